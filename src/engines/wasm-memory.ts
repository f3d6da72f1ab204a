/**
 * How much memory a policy.wasm needs at start. The opa-wasm SDK creates the
 * imported memory with 5 pages unless told otherwise, but a large policy's
 * module declares a larger minimum, and opa may place data segments past
 * that declared minimum, so instantiation fails either way. Reading both from
 * the module's bytes gives the size that works.
 */

const PAGE = 65536;
const SDK_DEFAULT_PAGES = 5;

class Reader {
  offset = 0;
  constructor(readonly bytes: Uint8Array) {}

  byte(): number {
    const b = this.bytes[this.offset++];
    if (b === undefined) throw new RangeError('unexpected end of module');
    return b;
  }

  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
  }

  s32(): number {
    let result = 0;
    let shift = 0;
    let b: number;
    do {
      b = this.byte();
      result |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    return shift < 32 && b & 0x40 ? result | (-1 << shift) : result;
  }

  skip(n: number): void {
    this.offset += n;
  }

  name(): void {
    this.skip(this.u32());
  }

  limits(): number {
    const flags = this.byte();
    const min = this.u32();
    if (flags & 1) this.u32();
    return min;
  }
}

/**
 * The number of 64 KiB pages to create the imported memory with: at least
 * the SDK's default, the module's declared minimum and the end of its data
 * segments. Falls back to the SDK default for bytes it cannot read (loading
 * will then report the real problem).
 */
export function initialMemoryPages(wasm: Uint8Array): number {
  let pages = SDK_DEFAULT_PAGES;
  try {
    const r = new Reader(wasm);
    r.skip(8); // magic and version
    while (r.offset < wasm.length) {
      const id = r.byte();
      const size = r.u32();
      const end = r.offset + size;
      if (id === 2) {
        // import section: find the memory import's minimum
        for (let n = r.u32(); n > 0; n--) {
          r.name();
          r.name();
          const kind = r.byte();
          if (kind === 0) r.u32();
          else if (kind === 1) {
            r.byte();
            r.limits();
          } else if (kind === 2) pages = Math.max(pages, r.limits());
          else if (kind === 3) r.skip(2);
          else throw new RangeError(`unknown import kind ${kind}`);
        }
      } else if (id === 11) {
        // data section: active segments at constant offsets
        for (let n = r.u32(); n > 0; n--) {
          const flags = r.u32();
          if (flags === 1) {
            r.skip(r.u32());
            continue;
          }
          if (flags === 2) r.u32();
          if (r.byte() !== 0x41) throw new RangeError('data segment offset is not an i32.const');
          const offset = r.s32();
          if (r.byte() !== 0x0b) throw new RangeError('data segment offset expression is not a single constant');
          const length = r.u32();
          r.skip(length);
          pages = Math.max(pages, Math.ceil((offset + length) / PAGE));
        }
      }
      r.offset = end;
    }
  } catch {
    return pages;
  }
  return pages;
}
