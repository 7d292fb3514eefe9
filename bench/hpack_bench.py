"""Microseconds per operation of our HPACK against the `hpack` package, on a gRPC request block.

Run: .venv/bin/python bench/hpack_bench.py
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from typing import TypeVar

import hpack  # the pure-Python HPACK used by h2 (a dev dependency)

from puregrpc._http2._hpack import Decoder, Encoder

Header = tuple[tuple[str, str], ...]
T = TypeVar("T")

REQUEST: Header = (
    (":method", "POST"),
    (":scheme", "http"),
    (":path", "/helloworld.Greeter/SayHello"),
    (":authority", "localhost:50051"),
    ("content-type", "application/grpc"),
    ("te", "trailers"),
    ("grpc-accept-encoding", "identity,deflate,gzip"),
    ("user-agent", "grpc-python-puregrpc/0.1"),
)
N = 100_000


def per_op(fn: Callable[[], object], number: int = N) -> float:
    """Best of 3 runs, in microseconds per call."""
    return min(timeit.repeat(fn, number=number, repeat=3)) / number * 1e6


def in_order(fn: Callable[[T], object], items: list[T]) -> float:
    """One pass over `items` (each block once, in order), in microseconds per call."""
    feed = iter(items)
    return timeit.timeit(lambda: fn(next(feed)), number=len(items)) / len(items) * 1e6


def timeout_requests() -> list[Header]:
    return [(*REQUEST, ("grpc-timeout", f"{i}u")) for i in range(N)]


def bench_ours() -> dict[str, float]:
    encoder, decoder = Encoder(), Decoder()
    for _ in range(2):
        block = encoder.encode(REQUEST)
        decoder.decode(block)
    results = {
        "encode cached": per_op(lambda: encoder.encode(REQUEST)),
        "decode cached": per_op(lambda: decoder.decode(block)),
    }
    blocks: list[bytes] = []
    results["encode varying timeout"] = in_order(
        lambda h: blocks.append(encoder.encode(h)), timeout_requests()
    )
    results["decode varying timeout"] = in_order(decoder.decode, blocks)
    first = Encoder().encode(REQUEST)
    results["encode first block"] = per_op(lambda: Encoder().encode(REQUEST), N // 10)
    results["decode first block"] = per_op(lambda: Decoder().decode(first), N // 10)
    return results


def bench_hpack() -> dict[str, float]:
    encoder, decoder = hpack.Encoder(), hpack.Decoder()
    for _ in range(2):
        block = encoder.encode(REQUEST)
        decoder.decode(block)
    results = {
        "encode cached": per_op(lambda: encoder.encode(REQUEST), N // 10),
        "decode cached": per_op(lambda: decoder.decode(block), N // 10),
    }
    blocks: list[bytes] = []
    requests = timeout_requests()[: N // 10]
    results["encode varying timeout"] = in_order(
        lambda h: blocks.append(encoder.encode(h)), requests
    )
    results["decode varying timeout"] = in_order(decoder.decode, blocks)
    first = hpack.Encoder().encode(REQUEST)
    results["encode first block"] = per_op(lambda: hpack.Encoder().encode(REQUEST), N // 10)
    results["decode first block"] = per_op(lambda: hpack.Decoder().decode(first), N // 10)
    return results


def main() -> None:
    ours = bench_ours()
    theirs = bench_hpack()
    print(f"{'us/op':<26}{'puregrpc':>10}{'hpack':>10}")
    for name, value in ours.items():
        other = f"{theirs[name]:10.2f}" if name in theirs else f"{'-':>10}"
        print(f"{name:<26}{value:10.2f}{other}")


if __name__ == "__main__":
    main()
