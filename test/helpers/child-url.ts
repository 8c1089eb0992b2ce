import type { ChildProcess } from 'node:child_process';

/** The first `listening on <url>` a child process prints (stdout or stderr), or an error with what it printed. */
export function listeningUrl(child: ChildProcess, what: string, timeoutMs = 30_000): Promise<string> {
  let output = '';
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} printed no URL in ${timeoutMs / 1000} s: ${output}`)), timeoutMs);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const found = /listening on (http:\/\/\S+)/.exec(output);
      if (found?.[1]) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.on('exit', () => clearTimeout(timer));
  });
  url.catch(() => undefined); // a process whose URL nobody awaits must not fail the run
  return url;
}
