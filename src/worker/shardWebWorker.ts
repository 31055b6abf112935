/**
 * dist/shard-worker-web.js: a gradient worker over messages as a Web Worker (VS Code for the web,
 * which has no SharedArrayBuffer). The extension host starts it and posts it one end of a
 * MessageChannel whose other end the run's training worker holds; the steps then go over that
 * port (shardMessages.ts), and the extension host terminates this worker when the run ends.
 */
import { serveShardMessages } from './shardMessages';

const scope = self as unknown as DedicatedWorkerGlobalScope;
scope.onmessage = (event: MessageEvent<{ type: 'port'; port: MessagePort }>) => {
  if (event.data?.type === 'port') serveShardMessages(event.data.port);
};
