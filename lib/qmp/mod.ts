/**
 * The QMP client: commands matched by id, events, and errors that say what happened.
 *
 * @module
 */
export * from "./client.ts";
export * from "./command_line.ts";
export * from "./errors.ts";
export * from "./event_stream.ts";
export * from "./qapi.ts";
