/**
 * Docker's admin-settings.json around a policy: the policy goes in as a
 * JSON-escaped string in `mcpPolicy.value`, which is what people get wrong by
 * hand. `checkDocument` reads such a file back, errors placed in the string.
 */

/** The admin-settings.json for a policy (as a JSON value), pretty-printed, `value` escaped. */
export function toAdminSettings(policyJson: unknown, options: { locked: boolean }): string {
  const settings = {
    configurationFileVersion: 2,
    mcpPolicy: { locked: options.locked, value: JSON.stringify(policyJson) },
  };
  return `${JSON.stringify(settings, null, 2)}\n`;
}

/** The policy text held in an admin-settings value, pretty-printed when it parses (else as written). */
export function innerPolicyText(value: string): string {
  try {
    return `${JSON.stringify(JSON.parse(value), null, 2)}\n`;
  } catch {
    return value;
  }
}
