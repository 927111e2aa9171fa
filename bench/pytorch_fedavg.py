#!/usr/bin/python3
"""A plain single-process PyTorch FedAvg loop: the baseline fedjets is timed
against (issue #15, targets 1 and 2; docs/PERFORMANCE.md, bench/compare.sh).

No network, no serialization, no processes: clients are index lists into one
tensor, trained one after the other on one model, and the round's updates are
folded into a running weighted sum: the floor for any Python framework. Run it
with Debian's python3-torch (the LibTorch 1.13 and BLAS fedjets links):

  /usr/bin/python3 bench/pytorch_fedavg.py --model mlp --clients 1000 \\
      --clients-per-round 100 --rounds 5 --threads 1

It computes what fedjets computes (common/learn/model.cc and training.cc,
common/data/partition.cc, coordinator/client_sampling.cc and
strategy/fedavg_strategy.cc): the same models built in the same order after
torch.manual_seed(seed) (same initial weights); SGD (lr, momentum, no weight
decay) created afresh per client and round, cross-entropy, batches from
torch.randperm seeded with the round seed (seed * 1000003 + round); Fashion-
MNIST scaled to [0, 1] and fedjets' iid split (its std::mt19937_64
Fisher-Yates shuffle, reimplemented bit for bit, then --max-examples); the
clients fedjets' DrawRound draws; the sample-weighted mean in float64 in
client-name order; evaluation on the test split before round 1, every
--eval-every rounds and after the last (fedjets also scores its evaluation
clients; this loop does not). --check-against verifies split and draws
against a fedjets-sim run directory.

Prints one line per round and, last, a machine-readable line:
  SUMMARY {"round_seconds": [...], "wall_seconds": ..., "accuracy": ...}
"""

import argparse
import gzip
import json
import os
import struct
import sys
import time

_START = time.monotonic()

import numpy as np  # noqa: E402  (imports count in the wall time)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

MASK64 = (1 << 64) - 1


class Mt19937_64:
    """std::mt19937_64, bit for bit, with numpy-vectorised twists."""

    N, M = 312, 156
    MATRIX_A = np.uint64(0xB5026F5AA96619E9)
    UPPER, LOWER = np.uint64(0xFFFFFFFF80000000), np.uint64(0x7FFFFFFF)

    def __init__(self, seed):
        mt = [seed & MASK64]
        for i in range(1, self.N):
            prev = mt[-1]
            mt.append((6364136223846793005 * (prev ^ (prev >> 62)) + i) & MASK64)
        self.mt = np.array(mt, dtype=np.uint64)
        self.out = []
        self.pos = 0

    def _twist_part(self, y_lo, y_hi, other):
        y = (y_lo & self.UPPER) | (y_hi & self.LOWER)
        odd = (y & np.uint64(1)).astype(bool)
        ya = y >> np.uint64(1)
        ya[odd] ^= self.MATRIX_A
        return other ^ ya

    def _refill(self):
        mt, n, m = self.mt, self.N, self.M
        mt[: n - m] = self._twist_part(mt[: n - m], mt[1 : n - m + 1], mt[m:])
        mt[n - m : n - 1] = self._twist_part(
            mt[n - m : n - 1], mt[n - m + 1 :], mt[: m - 1])
        mt[n - 1 :] = self._twist_part(mt[n - 1 :], mt[:1], mt[m - 1 : m])
        y = mt.copy()
        y ^= (y >> np.uint64(29)) & np.uint64(0x5555555555555555)
        y ^= (y << np.uint64(17)) & np.uint64(0x71D67FFFEDA60000)
        y ^= (y << np.uint64(37)) & np.uint64(0xFFF7EEE000000000)
        y ^= y >> np.uint64(43)
        self.out = [int(v) for v in y]
        self.pos = 0

    def __call__(self):
        if self.pos == len(self.out):
            self._refill()
        self.pos += 1
        return self.out[self.pos - 1]


def uniform_below(rng, n):
    """common::UniformBelow: unbiased draw in [0, n)."""
    reject_below = (2**64 - n) % n
    while True:
        r = rng()
        if r >= reject_below:
            return r % n


def multiply_below(rng, n):
    """common::MultiplyBelow (Lemire)."""
    product = rng() * n
    low = product & MASK64
    if low < n:
        threshold = (2**64 - n) % n
        while low < threshold:
            product = rng() * n
            low = product & MASK64
    return product >> 64


def shuffle(v, rng):
    """common::Shuffle (Fisher-Yates)."""
    for i in range(len(v), 1, -1):
        j = uniform_below(rng, i)
        v[i - 1], v[j] = v[j], v[i - 1]


def paired_shuffle(v, rng):
    """common::PairedShuffle (libstdc++ 12's std::shuffle), for < 2^32 items."""
    n = len(v)
    if n < 2:
        return
    i = 1
    if n % 2 == 0:
        j = multiply_below(rng, 2)
        v[i], v[j] = v[j], v[i]
        i += 1
    while i != n:
        r = i + 1
        both = multiply_below(rng, r * (r + 1))
        j = both // (r + 1)
        v[i], v[j] = v[j], v[i]
        i += 1
        j = both % (r + 1)
        v[i], v[j] = v[j], v[i]
        i += 1


def iid_split(n, clients, seed):
    """common::Partition(iid): shuffle, near-equal parts, each sorted."""
    perm = list(range(n))
    shuffle(perm, Mt19937_64(seed))
    parts, begin = [], 0
    for c in range(clients):
        take = n // clients + (1 if c < n % clients else 0)
        parts.append(sorted(perm[begin : begin + take]))
        begin += take
    return parts


class Sampler:
    """coordinator::DrawRound for FedAvg clients named client-0 ... ."""

    def __init__(self, clients, per_round, seed):
        self.names = sorted(f"client-{c}" for c in range(clients))
        self.n = min(per_round, clients) if per_round > 0 else clients
        self.rng = Mt19937_64(seed)

    def draw(self):
        order = list(range(len(self.names)))
        paired_shuffle(order, self.rng)
        return sorted(self.names[i] for i in order[: self.n])


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0:
        sys.exit(f"{path}: not an IDX file (the first two bytes are not 0)")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    if dtype != 0x08:
        sys.exit(f"{path}: IDX type {dtype:#x}, expected unsigned bytes (0x08)")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find_idx(folder, base):
    for name in (base + ".gz", base):
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    sys.exit(f"{os.path.join(folder, base)}(.gz): no such file")


def load_split(folder, prefix):
    x = read_idx(find_idx(folder, f"{prefix}-images-idx3-ubyte"))
    y = read_idx(find_idx(folder, f"{prefix}-labels-idx1-ubyte"))
    x = torch.from_numpy(x.astype(np.float32) / np.float32(255)).unsqueeze(1)
    return x.contiguous(), torch.from_numpy(y.astype(np.int64))


class Mlp(nn.Module):  # common::MlpImpl
    def __init__(self, features, hidden, classes):
        super().__init__()
        self.fc1 = nn.Linear(features, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, classes)

    def forward(self, x):
        x = F.relu(self.fc1(x.flatten(1)))
        return self.out(F.relu(self.fc2(x)))


class Cnn(nn.Module):  # common::CnnImpl
    def __init__(self, channels, height, width, hidden, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 16, 5, padding=2)
        self.conv2 = nn.Conv2d(16, 32, 5, padding=2)
        self.fc = nn.Linear(32 * (height // 4) * (width // 4), hidden)
        self.out = nn.Linear(hidden, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.out(F.relu(self.fc(x.flatten(1))))


def evaluate(model, x, y, batch=1024):
    model.eval()
    correct = 0
    with torch.no_grad():
        for b in range(0, len(y), batch):
            logits = model(x[b : b + batch])
            correct += int(logits.argmax(1).eq(y[b : b + batch]).sum())
    return correct / len(y)


def train_local(model, x, y, args, seed):
    """common::TrainLocal: SGD with momentum, shuffled mini-batches."""
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    model.train()
    gen = torch.Generator().manual_seed(seed)
    n = len(y)
    loss_sum = 0.0
    for _ in range(args.local_epochs):
        order = torch.randperm(n, generator=gen, dtype=torch.int64)
        for b in range(0, n, args.batch_size):
            idx = order[b : b + args.batch_size]
            opt.zero_grad()
            loss = F.cross_entropy(model(x.index_select(0, idx)),
                                   y.index_select(0, idx))
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
    return loss_sum / (n * args.local_epochs)


def check_partition(run_dir, shards, classes):
    """Exits unless RUN_DIR/partition.txt (written by fedjets-sim) lists the
    class counts of our shards, client by client."""
    path = os.path.join(run_dir, "partition.txt")
    theirs = {}
    with open(path) as f:
        rows = [line.split() for line in f]
    header = next(i for i, r in enumerate(rows) if r[:1] == ["client"])
    for r in rows[header + 1 :]:
        if r and r[0].isdigit():
            theirs[int(r[0])] = [int(v) for v in r[1 : 1 + classes]]
    for c, (_, y) in enumerate(shards):
        ours = torch.bincount(y, minlength=classes).tolist()
        if theirs.get(c) != ours:
            sys.exit(f"{path}: client {c} holds {theirs.get(c)} examples per "
                     f"class, this loop's split {ours}: not the same split")


def check_draws(run_dir, draws, losses):
    """Exits unless RUN_DIR/metrics.jsonl shows the same clients training in
    every round; prints how far fedjets' train losses are from ours."""
    path = os.path.join(run_dir, "metrics.jsonl")
    theirs, their_loss = {}, {}
    with open(path) as f:
        for line in f:
            e = json.loads(line)
            if e.get("event") == "update":
                theirs.setdefault(e["round"], []).append(e["client"])
                their_loss[(e["round"], e["client"])] = e["train_loss"]
    for rnd, ours in enumerate(draws, start=1):
        if sorted(theirs.get(rnd, [])) != ours:
            sys.exit(f"{path}: round {rnd} trained {sorted(theirs.get(rnd, []))}"
                     f", this loop drew {ours}: not the same draw")
    diff = max(abs(their_loss[k] - v) / max(abs(v), 1e-12)
               for k, v in losses.items())
    print(f"checked against {run_dir}: same split, same clients in all "
          f"{len(draws)} rounds; train losses differ by at most "
          f"{diff:.2e} (relative)", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp",
                   help="model family, as fedjets' --model")
    p.add_argument("--clients", type=int, default=4,
                   help="clients in the federation")
    p.add_argument("--clients-per-round", type=int, default=0,
                   help="clients sampled per round (0 = all)")
    p.add_argument("--rounds", type=int, default=5, help="federated rounds")
    p.add_argument("--threads", type=int, default=1,
                   help="torch.set_num_threads")
    p.add_argument("--max-examples", type=int, default=0,
                   help="cap on each client's training examples (0 = whole "
                        "shard)")
    p.add_argument("--partition", default="iid", choices=["iid"],
                   help="split of the training data (only fedjets' iid)")
    p.add_argument("--seed", type=int, default=1,
                   help="fedjets' --seed: split, draws, weights, shuffling")
    p.add_argument("--local-epochs", type=int, default=1,
                   help="local epochs per round")
    p.add_argument("--batch-size", type=int, default=64,
                   help="local batch size")
    p.add_argument("--lr", type=float, default=0.01,
                   help="client SGD learning rate")
    p.add_argument("--momentum", type=float, default=0.9,
                   help="client SGD momentum")
    p.add_argument("--hidden", type=int, default=128,
                   help="width of the penultimate layer")
    p.add_argument("--eval-every", type=int, default=1,
                   help="evaluate every N rounds (and after the last)")
    p.add_argument("--eval-examples", type=int, default=0,
                   help="cap on the test examples evaluated: the first N "
                        "(0 = all)")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                   help="folder of Fashion-MNIST IDX files (.gz or not)")
    p.add_argument("--check-against", metavar="RUN_DIR",
                   help="a fedjets-sim run directory of the same federation: "
                        "exit with an error unless its split and its clients "
                        "drawn in each round are this loop's")
    args = p.parse_args()
    if min(args.clients, args.rounds, args.threads, args.eval_every,
           args.local_epochs, args.batch_size) < 1 or args.lr <= 0:
        p.error("--clients, --rounds, --threads, --eval-every, "
                "--local-epochs and --batch-size must be >= 1, --lr > 0")

    torch.set_num_threads(args.threads)
    train_x, train_y = load_split(args.data, "train")
    test_x, test_y = load_split(args.data, "t10k")
    if args.eval_examples > 0:
        test_x, test_y = test_x[: args.eval_examples], test_y[: args.eval_examples]
    if args.clients > len(train_y):
        p.error(f"more clients ({args.clients}) than examples ({len(train_y)})")
    shards = []
    for idx in iid_split(len(train_y), args.clients, args.seed):
        if args.max_examples > 0:
            idx = idx[: args.max_examples]
        t = torch.tensor(idx, dtype=torch.int64)
        shards.append((train_x.index_select(0, t), train_y.index_select(0, t)))
    by_name = {f"client-{c}": shards[c] for c in range(args.clients)}
    classes = int(train_y.max()) + 1
    if args.check_against:
        check_partition(args.check_against, shards, classes)

    torch.manual_seed(args.seed)
    if args.model == "mlp":
        model = Mlp(28 * 28, args.hidden, classes)
    else:
        model = Cnn(1, 28, 28, args.hidden, classes)
    global_state = [t.detach().clone() for t in model.parameters()]
    accuracy = evaluate(model, test_x, test_y)
    print(f"pytorch_fedavg: {args.model}, {args.clients} clients, "
          f"{args.clients_per_round or args.clients} per round, "
          f"{args.threads} threads; initial test accuracy {accuracy:.4f}; "
          f"start-up {time.monotonic() - _START:.2f} s", flush=True)

    sampler = Sampler(args.clients, args.clients_per_round, args.seed)
    round_seconds, draws, losses = [], [], {}
    for rnd in range(1, args.rounds + 1):
        start = time.monotonic()
        sampled = sampler.draw()
        draws.append(sampled)
        total = sum(len(by_name[c][1]) for c in sampled)
        acc = [torch.zeros(t.shape, dtype=torch.float64) for t in global_state]
        for name in sampled:
            x, y = by_name[name]
            with torch.no_grad():
                for dst, src in zip(model.parameters(), global_state):
                    dst.copy_(src)
            losses[(rnd, name)] = train_local(model, x, y, args,
                                              args.seed * 1000003 + rnd)
            w = len(y) / total
            with torch.no_grad():
                for a, t in zip(acc, model.parameters()):
                    a += w * t.double()
        global_state = [a.float() for a in acc]
        evaluated = rnd % args.eval_every == 0 or rnd == args.rounds
        if evaluated:
            with torch.no_grad():
                for dst, src in zip(model.parameters(), global_state):
                    dst.copy_(src)
            accuracy = evaluate(model, test_x, test_y)
        round_seconds.append(time.monotonic() - start)
        print(f"round {rnd}: {len(sampled)} clients, {total} examples, "
              f"{round_seconds[-1]:.3f} s"
              + (f", test accuracy {accuracy:.4f}" if evaluated else ""),
              flush=True)
    if args.check_against:
        check_draws(args.check_against, draws, losses)
    times = os.times()
    summary = {
        "model": args.model, "clients": args.clients,
        "clients_per_round": args.clients_per_round, "rounds": args.rounds,
        "threads": args.threads, "round_seconds": round_seconds,
        "accuracy": accuracy, "wall_seconds": time.monotonic() - _START,
        "cpu_seconds": times.user + times.system,
        "system_seconds": times.system,
    }
    print("SUMMARY " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
