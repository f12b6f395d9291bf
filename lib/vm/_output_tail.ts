// Keeping the last bytes a child process writes to a pipe, for error messages.

/**
 * Reads a process's output stream in the background and keeps its last `bytes` characters.
 *
 * @returns A function that gives what was kept so far.
 */
export function collectTail(stream: ReadableStream<Uint8Array>, bytes: number): () => string {
  const decoder = new TextDecoder();
  let text = "";
  (async () => {
    try {
      for await (const chunk of stream) {
        text += decoder.decode(chunk, { stream: true });
        if (text.length > 2 * bytes) text = text.slice(-bytes);
      }
    } catch {
      // The pipe closes with the process.
    }
  })();
  return () => text.slice(-bytes);
}
