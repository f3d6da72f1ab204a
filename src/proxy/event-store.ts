/**
 * The SSE events of one HTTP session, kept so a client that lost a stream can
 * resume it with `Last-Event-ID`. Bounded by count and size: the oldest events
 * go first, and resuming after an event no longer kept is refused by the SDK
 * (400), so the client starts over instead of missing messages silently.
 */
import { type EventId, type EventStore, type StreamId } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/** Bounds of one session's event store. */
export const EVENT_STORE_LIMITS = {
  maxEvents: 1_000,
  maxBytes: 2 * 1024 * 1024,
} as const;

interface Stored {
  readonly streamId: StreamId;
  readonly message: JSONRPCMessage;
  readonly bytes: number;
}

/** An in-memory {@link EventStore} for one session. */
export class BoundedEventStore implements EventStore {
  private readonly events = new Map<EventId, Stored>();
  private bytes = 0;
  private sequence = 0;

  constructor(
    private readonly maxEvents: number = EVENT_STORE_LIMITS.maxEvents,
    private readonly maxBytes: number = EVENT_STORE_LIMITS.maxBytes,
  ) {}

  /** Events kept now. */
  get size(): number {
    return this.events.size;
  }

  storeEvent(streamId: StreamId, message: JSONRPCMessage): Promise<EventId> {
    // The sequence number first keeps ids unique and ordered whatever the stream id holds.
    const id = `${++this.sequence}_${streamId}`;
    const bytes = JSON.stringify(message).length;
    this.events.set(id, { streamId, message, bytes });
    this.bytes += bytes;
    for (const [oldest, event] of this.events) {
      if (this.events.size <= this.maxEvents && this.bytes <= this.maxBytes) break;
      if (oldest === id) break;
      this.events.delete(oldest);
      this.bytes -= event.bytes;
    }
    return Promise.resolve(id);
  }

  getStreamIdForEventId(eventId: EventId): Promise<StreamId | undefined> {
    return Promise.resolve(this.events.get(eventId)?.streamId);
  }

  async replayEventsAfter(
    lastEventId: EventId,
    { send }: { send: (eventId: EventId, message: JSONRPCMessage) => Promise<void> },
  ): Promise<StreamId> {
    const last = this.events.get(lastEventId);
    if (last === undefined) throw new Error(`event ${JSON.stringify(lastEventId.slice(0, 80))} is no longer kept`);
    let after = false;
    const replay: [EventId, JSONRPCMessage][] = [];
    for (const [id, event] of this.events) {
      if (id === lastEventId) after = true;
      // Priming events carry no message; they only mark where a stream can resume.
      else if (after && event.streamId === last.streamId && Object.keys(event.message).length > 0) {
        replay.push([id, event.message]);
      }
    }
    for (const [id, message] of replay) await send(id, message);
    return last.streamId;
  }
}
