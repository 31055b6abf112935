import * as vscode from 'vscode';

/** One row of the Runs view. Filled by the run store once it exists. */
export interface RunItem {
  id: string;
  label: string;
  description?: string;
  status?: string;
}

/** The "Runs" tree. Holds a flat list for now; the run store will feed it. */
export class RunsTreeProvider implements vscode.TreeDataProvider<RunItem> {
  private readonly changed = new vscode.EventEmitter<RunItem | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private items: RunItem[] = [];

  setRuns(items: RunItem[]): void {
    this.items = items;
    this.changed.fire(undefined);
  }

  getRuns(): readonly RunItem[] {
    return this.items;
  }

  getTreeItem(item: RunItem): vscode.TreeItem {
    const tree = new vscode.TreeItem(item.label, vscode.TreeItemCollapsibleState.None);
    tree.id = item.id;
    tree.description = item.description;
    tree.tooltip = `${item.id}\n${item.description ?? ''}`;
    tree.iconPath = new vscode.ThemeIcon(statusIcon(item.status));
    tree.contextValue = item.status === 'running' ? 'run.running' : 'run';
    return tree;
  }

  getChildren(parent?: RunItem): RunItem[] {
    return parent ? [] : this.items;
  }
}

function statusIcon(status: string | undefined): string {
  switch (status) {
    case 'running':
      return 'sync~spin';
    case 'finished':
      return 'pass';
    case 'stopped':
      return 'debug-stop';
    case 'diverged':
      return 'warning';
    case 'failed':
      return 'error';
    default:
      return 'circle-outline';
  }
}
