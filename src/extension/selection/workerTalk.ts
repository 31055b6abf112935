/** Run on selection's requests to the inspect worker (inspectClient.ts), with progress and Cancel. */
import * as vscode from 'vscode';
import type { FromInspectWorker } from '../../protocol/inspectWorker';
import { InspectCancelled, type InspectClient, type InspectRequest } from '../inspectClient';
import type { LoadedRun } from './state';

/** The worker gets the model's bytes once per key (LoadedRun: run id @ generation). */
export type Ask = <T extends FromInspectWorker['type']>(req: InspectRequest, loaded: Pick<LoadedRun, 'bytes' | 'key'>, expect: T, title: string) => Promise<Extract<FromInspectWorker, { type: T }> | undefined>;

/**
 * One request to the worker. A progress notification with Cancel appears when it takes longer
 * than a moment; Cancel terminates the worker. Undefined when cancelled or failed (reported).
 */
export function asker(client: InspectClient, reportError: (message: string) => void): Ask {
  return async <T extends FromInspectWorker['type']>(req: InspectRequest, loaded: Pick<LoadedRun, 'bytes' | 'key'>, expect: T, title: string): Promise<Extract<FromInspectWorker, { type: T }> | undefined> => {
    const work = (async () => {
      let reply = await client.request(req, loaded.key, () => loaded.bytes);
      if (reply.type === 'error' && reply.needModel) {
        client.forgetModel();
        reply = await client.request(req, loaded.key, () => loaded.bytes);
      }
      return reply;
    })();
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `RNN Lab: ${title}`, cancellable: true }, (_, token) => {
        token.onCancellationRequested(() => client.cancel());
        return work.catch(() => undefined);
      });
    }, 400);
    try {
      const reply = await work;
      if (reply.type === 'error') {
        reportError(`RNN Lab: ${title} failed: ${reply.message}`);
        return undefined;
      }
      if (reply.type !== expect) throw new Error(`unexpected reply ${reply.type}`);
      return reply as Extract<FromInspectWorker, { type: T }>;
    } catch (e) {
      if (!(e instanceof InspectCancelled)) reportError(`RNN Lab: ${title} failed: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    } finally {
      settled = true;
      clearTimeout(timer);
    }
  };
}

/** False (with a note to the user) if the document changed while the worker ran: its result describes old text. */
export function unchanged(doc: vscode.TextDocument, version: number): boolean {
  if (doc.version === version) return true;
  void vscode.window.showInformationMessage('RNN Lab: the text changed while the model ran; run the command again.');
  return false;
}

