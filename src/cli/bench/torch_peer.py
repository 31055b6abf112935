# The PyTorch peer of `rnn-lab bench` (src/cli/bench.ts runs it as `python3 -c <this file>`, one
# process per engine). It speaks the bench children's protocol (src/cli/bench/child.ts) as one JSON
# object per line on stdin and stdout: init -> ready, window -> window, exit -> rss. Same task as
# ours: character LM on the file's characters (sorted distinct characters, one-hot inputs), B
# streams through the text with the state carried between chunks of T (truncated BPTT), the cell
# of nn.LSTM / nn.GRU / nn.RNN, a linear head, mean cross-entropy, Adam (lr 0.002), global-norm
# clipping at 5, float32. init's "threads" sets torch.set_num_threads (1, or all cores).
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F


def blas_info():
    """The BLAS library this process loaded (from /proc/self/maps) and torch's own build line."""
    libs = set()
    try:
        with open('/proc/self/maps') as maps:
            for line in maps:
                path = line.split()[-1]
                base = os.path.basename(path)
                if 'blas' in base or 'lapack' in base or 'mkl' in base:
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    config = torch.__config__.show()
    build = [l.strip() for l in config.splitlines() if 'BLAS' in l]
    return sorted(libs), build


def send(msg):
    sys.stdout.write(json.dumps(msg) + '\n')
    sys.stdout.flush()


class Peer:
    def __init__(self, msg):
        m = msg['model']
        torch.set_num_threads(int(msg.get('threads') or 1))
        torch.manual_seed(1)
        with open(msg['dataFile'], encoding='utf-8') as f:
            text = f.read().replace('\r\n', '\n')
        vocab = sorted(set(text))
        index = {c: i for i, c in enumerate(vocab)}
        self.data = torch.tensor([index[c] for c in text], dtype=torch.long)
        self.V = len(vocab)
        self.B, self.T, H, L = m['batch'], m['seq'], m['hidden'], m['layers']
        cell = {'lstm': torch.nn.LSTM, 'gru': torch.nn.GRU, 'rnn': torch.nn.RNN}[m['cell']]
        self.rnn = cell(self.V, H, L)
        self.head = torch.nn.Linear(H, self.V)
        self.params = list(self.rnn.parameters()) + list(self.head.parameters())
        self.opt = torch.optim.Adam(self.params, lr=0.002)
        self.segment = len(self.data) // self.B
        self.pos = 0
        self.state = None
        self.lstm = m['cell'] == 'lstm'

    def step(self):
        T, B, S = self.T, self.B, self.segment
        if self.pos + T + 1 > S:
            self.pos = 0
            self.state = None
        starts = torch.arange(B) * S + self.pos
        idx = starts.unsqueeze(0) + torch.arange(T + 1).unsqueeze(1)  # (T+1, B)
        chunk = self.data[idx]
        self.pos += T
        x = F.one_hot(chunk[:-1], self.V).float()
        out, state = self.rnn(x, self.state)
        self.state = tuple(s.detach() for s in state) if self.lstm else state.detach()
        loss = F.cross_entropy(self.head(out).reshape(T * B, self.V), chunk[1:].reshape(T * B))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 5.0)
        self.opt.step()
        return float(loss)


def main():
    peer = None
    for line in sys.stdin:
        msg = json.loads(line)
        try:
            if msg['type'] == 'init':
                t0, c0 = time.perf_counter(), time.process_time()
                peer = Peer(msg)
                steps = 0
                while steps < msg['warmupSteps'] or time.perf_counter() - t0 < msg['warmupSec']:
                    peer.step()
                    steps += 1
                libs, build = blas_info()
                info = f"PyTorch {torch.__version__}, {torch.get_num_threads()} thread(s), BLAS {', '.join(libs) or 'none loaded'}"
                send({'type': 'ready', 'info': info, 'startupSec': time.perf_counter() - t0, 'startupCpuSec': time.process_time() - c0,
                      'vocab': peer.V, 'blas': libs, 'blasBuild': build})
            elif msg['type'] == 'window':
                t0, c0 = time.perf_counter(), time.process_time()
                steps, loss = 0, float('nan')
                while steps < msg['minSteps'] or time.perf_counter() - t0 < msg['seconds']:
                    loss = peer.step()
                    steps += 1
                send({'type': 'window', 'seconds': time.perf_counter() - t0, 'cpuSeconds': time.process_time() - c0, 'steps': steps, 'loss': loss})
            elif msg['type'] == 'exit':
                send({'type': 'rss', 'peakRssMib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
                return
        except Exception as e:  # one line back to the bench, which reports the peer as failed
            send({'type': 'error', 'message': f'{type(e).__name__}: {e}'})


main()
