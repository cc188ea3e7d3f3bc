"""The code sandbox: right and wrong code, the limits, the refused operations, code extraction."""

from __future__ import annotations

import socket

import pytest

from ganlab.assistant.scoring.sandbox import Limits, extract_code, keep_definitions, run_python
from ganlab.errors import ConfigError

ADD = "def add(a, b):\n    return a + b\n"
ADD_TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"


def test_correct_code_passes():
    result = run_python(ADD, ADD_TESTS)
    assert result.passed, result.stderr
    assert result.status == "passed" and result.error_kind == "" and result.violations == ()
    assert 0 < result.seconds < 10


def test_wrong_code_fails_and_broken_code_errors():
    wrong = run_python(ADD.replace("a + b", "a - b"), ADD_TESTS)
    assert not wrong.passed and wrong.status == "failed" and wrong.error_kind == "AssertionError"
    assert "assert add(2, 3) == 5" in wrong.stderr
    broken = run_python("def add(a, b)\n    return a + b\n", ADD_TESTS)
    assert broken.status == "error" and broken.error_kind == "SyntaxError"
    quitting = run_python("import sys\nsys.exit(0)\n", "assert False\n")
    assert quitting.status == "error" and quitting.error_kind == "SystemExit"


def test_infinite_loop_is_killed_at_the_wall_clock_limit():
    result = run_python("while True:\n    pass\n", limits=Limits(wall_s=1.5, cpu_s=60))
    assert result.timed_out and result.error_kind == "WallClockLimit"
    assert 1.4 <= result.seconds < 6


def test_cpu_time_limit_stops_a_busy_loop():
    result = run_python("while True:\n    pass\n", limits=Limits(wall_s=30, cpu_s=1))
    assert result.timed_out and result.error_kind == "CpuLimit"
    assert result.seconds < 15


def test_memory_hog_is_stopped():
    hog = "chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))\n"
    result = run_python(hog, limits=Limits(memory_mb=128))
    assert result.killed_by_memory and result.error_kind == "MemoryError"
    one_block = run_python("x = bytearray(4 * 1024**3)\n", limits=Limits(memory_mb=128))
    assert one_block.killed_by_memory


def test_output_flood_hits_the_file_size_limit():
    result = run_python("while True:\n    print('x' * 1000)\n", limits=Limits(file_mb=1))
    assert result.status == "output_limit"
    assert len(result.stdout) <= 2000


def test_socket_connect_to_localhost_is_refused():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        code = f"import socket\ns = socket.socket()\ns.connect(('127.0.0.1', {port}))\n"
        result = run_python(code)
        server.settimeout(0.2)
        with pytest.raises(TimeoutError):
            server.accept()  # nobody got through
    assert result.status == "blocked" and result.error_kind == "PermissionError"
    assert any(v.startswith("socket.") for v in result.violations)


def test_dns_lookup_is_refused():
    result = run_python("import socket\nsocket.getaddrinfo('localhost', 80)\n")
    assert result.status == "blocked"
    assert result.violations == ("socket.getaddrinfo",)


@pytest.mark.parametrize(
    "spawn",
    [
        "import subprocess\nsubprocess.run(['touch', {marker!r}])\n",
        "import os\nos.system('touch {marker}')\n",
        "import os\nif os.fork() == 0:\n    open({marker!r}, 'w').close()\n",
    ],
    ids=["subprocess", "os.system", "os.fork"],
)
def test_process_spawning_is_refused(tmp_path, spawn):
    marker = tmp_path / "spawned"
    result = run_python(spawn.format(marker=str(marker)))
    assert result.status == "blocked", result.stderr
    assert not marker.exists()


def test_writes_stay_inside_the_work_folder(tmp_path):
    outside = tmp_path / "escaped.txt"
    result = run_python(f"open({str(outside)!r}, 'w').write('x')\n")
    assert result.status == "blocked" and not outside.exists()
    inside = run_python(
        "open('notes.txt', 'w').write('x')\nassert open('notes.txt').read() == 'x'\n"
    )
    assert inside.passed, inside.stderr
    assert run_python("import ctypes\n").status == "blocked"


def test_a_refused_call_that_the_code_catches_is_recorded_but_may_pass():
    code = "import os\ntry:\n    os.system('true')\nexcept OSError:\n    pass\n" + ADD
    result = run_python(code, ADD_TESTS)
    assert result.passed and result.violations == ("os.system",)


def test_the_child_sees_none_of_the_parents_environment(monkeypatch):
    monkeypatch.setenv("GANLAB_SANDBOX_SECRET", "hunter2")
    result = run_python("import os\nassert 'GANLAB_SANDBOX_SECRET' not in os.environ\n")
    assert result.passed, result.stderr


def test_limits_are_validated():
    with pytest.raises(ConfigError, match="memory_mb"):
        Limits(memory_mb=1)
    with pytest.raises(ConfigError):
        Limits(wall_s=0)


def test_extract_code_from_fenced_replies():
    reply = (
        "Here you go:\n```python\ndef f(x):\n    return x + 1\n```\n"
        "Example:\n```python\nprint(f(2))\n```\nHope it helps."
    )
    assert extract_code(reply) == "def f(x):\n    return x + 1\n"
    assert extract_code("```\nimport math\n```") == "import math\n"
    # cut off by the token limit: the fence never closes
    assert extract_code("```py\ndef g():\n    return 2") == "def g():\n    return 2\n"
    # a shell block is not Python
    assert "ls" not in extract_code("```bash\nls\n```\n```python\ndef h():\n    pass\n```")


def test_extract_code_from_unfenced_replies():
    reply = "Sure! The function is below.\nimport math\n\ndef f(x):\n    return math.sqrt(x)\n"
    reply += "print(f(4))\nThis returns the square root."
    assert extract_code(reply) == "import math\n\ndef f(x):\n    return math.sqrt(x)\n"
    assert extract_code("I do not know.") == "I do not know.\n"


def test_keep_definitions_drops_the_models_own_demo():
    code = (
        "import math\n\n@functools.cache\ndef f(x):\n    return math.sqrt(x)\n\nLIMIT = 3\n"
        "print(f(4))\nassert f(9) == 4\nif __name__ == '__main__':\n    f(1)\n"
    )
    kept = keep_definitions(code)
    assert (
        kept == "import math\n\n@functools.cache\ndef f(x):\n    return math.sqrt(x)\n\nLIMIT = 3\n"
    )
    # unparseable code is left alone, so that its syntax error is what gets reported
    assert keep_definitions("def f(:\n") == "def f(:\n"
