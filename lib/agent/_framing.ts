// The guest agent's byte stream: JSON replies one per line, and the 0xFF byte the agent sends
// before the reply to `guest-sync-delimited`. Everything before a 0xFF is dropped: it is the
// rest of a reply a previous client gave up on, or garbage the agent wrote while starting.

const DELIMITER = 0xff;
const NEWLINE = 10;

/** Splits the agent's bytes into parsed JSON messages. */
export class AgentFraming {
  readonly #decoder = new TextDecoder();
  readonly #maxLineBytes: number;
  #partial: Uint8Array[] = [];
  #partialLength = 0;
  /** Lines that were not JSON, skipped. */
  ignoredLines = 0;

  /** @param maxLineBytes Longest line accepted; a longer one throws. */
  constructor(maxLineBytes: number) {
    this.#maxLineBytes = maxLineBytes;
  }

  /**
   * Adds bytes read from the agent.
   *
   * @param chunk The bytes (not kept).
   * @returns The complete messages they finish, in order.
   * @throws {RangeError} When a line grows past the limit.
   */
  push(chunk: Uint8Array): unknown[] {
    const messages: unknown[] = [];
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (byte === DELIMITER) {
        this.#partial = [];
        this.#partialLength = 0;
        start = i + 1;
      } else if (byte === NEWLINE) {
        const line = this.#take(chunk.subarray(start, i));
        start = i + 1;
        if (line.trim() === "") continue;
        try {
          messages.push(JSON.parse(line));
        } catch {
          this.ignoredLines++;
        }
      }
    }
    if (start < chunk.length) {
      this.#partial.push(chunk.slice(start));
      this.#partialLength += chunk.length - start;
      if (this.#partialLength > this.#maxLineBytes) {
        this.#partial = [];
        this.#partialLength = 0;
        throw new RangeError(
          `guest agent line longer than ${this.#maxLineBytes} bytes`,
        );
      }
    }
    return messages;
  }

  #take(tail: Uint8Array): string {
    if (this.#partialLength === 0) return this.#decoder.decode(tail);
    const joined = new Uint8Array(this.#partialLength + tail.length);
    let offset = 0;
    for (const part of this.#partial) {
      joined.set(part, offset);
      offset += part.length;
    }
    joined.set(tail, offset);
    this.#partial = [];
    this.#partialLength = 0;
    return this.#decoder.decode(joined);
  }
}
