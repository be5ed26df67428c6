"""An external tool run once per sample through a shell template.

    command: "python inference.py --source_image {ref} --driven_audio {audio} --result {out}"

{ref} is the reference frame as PNG, {audio} the sample's audio as 16 kHz mono WAV, {out} the mp4
the tool must write, {n_frames} and {fps} the length and rate wanted. Each value is shell-quoted.
"""
from __future__ import annotations

import os
import shlex
import signal
import string
import subprocess
import tempfile
import time
from pathlib import Path

import cv2

from fada.data.io import MediaError, fit_audio_to_frames, read_video, write_audio
from fada.errors import InputError

from ..cards import CardError, MethodCard
from ..registry import ADAPTERS
from ..types import Generation, Sample
from . import Adapter, fit_frames, with_sample_audio


# The placeholders a template may use; each is filled per sample.
COMMAND_FIELDS = ("ref", "audio", "out", "n_frames", "fps")


@ADAPTERS.register("command")
class Command(Adapter):
    requires = ("command",)
    accepts = ("timeout_s",)
    timed = True

    @classmethod
    def check_card(cls, card: MethodCard) -> None:
        try:
            names = {n for _, n, _, _ in string.Formatter().parse(card.command) if n is not None}
        except ValueError as e:
            raise CardError(card.path, "command", f"bad template ({e}); write literal braces as {{{{ }}}}") from None
        unknown = sorted(names - set(COMMAND_FIELDS))
        if unknown:
            raise CardError(card.path, "command", f"unknown placeholder {{{unknown[0]}}}; "
                                                  f"known: {', '.join('{' + n + '}' for n in COMMAND_FIELDS)}")
        if "out" not in names:
            raise CardError(card.path, "command", "the template must write the video to {out}")

    def generate(self, sample: Sample, seed: int) -> Generation:
        with tempfile.TemporaryDirectory(prefix="fada-bench-cmd-") as tmp:
            tmp = Path(tmp)
            ref, audio, out = tmp / "ref.png", tmp / "audio.wav", tmp / "out.mp4"
            if not cv2.imwrite(str(ref), cv2.cvtColor(sample.reference, cv2.COLOR_RGB2BGR)):
                raise InputError(f"could not write the reference image to {ref}")
            write_audio(audio, fit_audio_to_frames(sample.audio, sample.n_frames, sample.fps))
            values = {"ref": ref, "audio": audio, "out": out, "n_frames": sample.n_frames, "fps": f"{sample.fps:g}"}
            cmd = self.card.command.format(**{k: shlex.quote(str(v)) for k, v in values.items()})
            t0 = time.perf_counter()
            _run(cmd, self.card.timeout_s, self.card.name)
            seconds = time.perf_counter() - t0
            if not out.is_file():
                raise InputError(f"{self.card.name}: the command exited 0 but wrote no video to {{out}}: {cmd}")
            try:
                video = read_video(out, fps=sample.fps, audio=False)
            except MediaError as e:
                raise InputError(f"{self.card.name}: the command's video is unusable: {e.problem}") from None
            frames = fit_frames(video.frames, sample, f"{self.card.name} output")
        return Generation(with_sample_audio(frames, sample), seconds={"command": seconds})


def _run(cmd: str, timeout_s: float, name: str) -> None:
    # A new session, so that a timeout kills the shell and everything it started.
    p = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True, text=True, errors="replace")
    try:
        output, _ = p.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise InputError(f"{name}: the command ran past its timeout of {timeout_s:g} s: {cmd}") from None
    except BaseException:
        os.killpg(p.pid, signal.SIGKILL)   # Ctrl-C: leave no tool running
        p.wait()
        raise
    if p.returncode != 0:
        tail = " | ".join(output.strip().splitlines()[-3:])
        raise InputError(f"{name}: the command exited {p.returncode}: {tail or '(no output)'}")
