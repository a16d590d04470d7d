"""A process's lines, buffered on its node: read from a cursor, bounded, ended once closed."""

from __future__ import annotations

import io
import threading

from kiln.compute.ray.lines import LineBuffer


def test_lines_are_read_from_a_cursor_until_the_stream_ends() -> None:
    buffer = LineBuffer()
    buffer.pump(io.BytesIO(b"one\ntwo\nthree"))
    assert buffer.read(0, 0) == ([b"one\n", b"two\n", b"three"], 3, False)
    assert buffer.read(2, 0) == ([b"three"], 3, False)
    assert buffer.read(3, 0) == ([], 3, True)


def test_a_reader_that_falls_behind_loses_the_oldest_lines() -> None:
    buffer = LineBuffer(max_lines=2)
    for line in (b"1\n", b"2\n", b"3\n"):
        buffer.append(line)
    assert buffer.read(0, 0) == ([b"2\n", b"3\n"], 3, False)


def test_a_waiting_reader_wakes_on_a_new_line() -> None:
    buffer = LineBuffer()
    threading.Timer(0.05, buffer.append, (b"late\n",)).start()
    assert buffer.read(0, 30) == ([b"late\n"], 1, False)


def test_a_read_with_nothing_new_returns_after_its_timeout() -> None:
    assert LineBuffer().read(0, 0.01) == ([], 0, False)
