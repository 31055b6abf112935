import * as vscode from 'vscode';
import type { Feedback } from '../feedback';

/**
 * Restricted Mode (package.json capabilities.untrustedWorkspaces "limited"): a workspace's run
 * configs and data are not read and nothing trains or samples; stored runs are only listed.
 * True (with the reason shown) when `what` must not run.
 */
export function refuseUntrusted(feedback: Feedback, what: string): boolean {
  if (vscode.workspace.isTrusted) return false;
  void feedback.error(`RNN Lab: ${what} is off in Restricted Mode: this workspace is not trusted. Trust it (Manage Workspace Trust) to train on its files.`);
  return true;
}
