// Forwards as Docker and Lima users write them: "[ADDRESS:]HOST:GUEST[/tcp|/udp]".

/** The pattern of a forward written as text. */
export const FORWARD_TEXT = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/;

/** A forward written as text, read. */
export interface ForwardText {
  /** The host address, when given. */
  address?: string;
  /** The host port. */
  host: number;
  /** The guest port. */
  guest: number;
  /** The protocol, when given. */
  protocol?: "tcp" | "udp";
}

/**
 * Reads `"2222:22"`, `"127.0.0.1:8080:80"` or `"5353:53/udp"`; the ports are not checked.
 *
 * @param text The forward.
 * @returns Its parts, or `undefined` when it is not of that form.
 */
export function readForward(text: string): ForwardText | undefined {
  const match = FORWARD_TEXT.exec(text);
  if (match === null) return undefined;
  return {
    host: Number(match[2]),
    guest: Number(match[3]),
    ...match[1] === undefined ? {} : { address: match[1] },
    ...match[4] === undefined ? {} : { protocol: match[4] as "tcp" | "udp" },
  };
}
