"""Videos made elsewhere (SadTalker, Hallo, ...): FOLDER/SAMPLE_ID.mp4, read and checked."""
from __future__ import annotations

from pathlib import Path

from fada.data.io import MediaError, read_video

from ..options import check_name
from ..paths import baselines_dir
from ..registry import ADAPTERS
from ..types import Generation, Sample
from . import Adapter, fit_frames, with_sample_audio


def method_folder(card, ctx) -> Path:
    """--method-folder NAME=DIR, else the card's folder, else FADA_BENCH_BASELINES/NAME or
    data/baselines/NAME."""
    if card.name in ctx.method_folders:
        return Path(ctx.method_folders[card.name])
    return Path(card.folder) if card.folder else baselines_dir(card.name)


@ADAPTERS.register("precomputed")
class Precomputed(Adapter):
    accepts = ("folder",)

    def generate(self, sample: Sample, seed: int) -> Generation:
        folder = method_folder(self.card, self.ctx)
        path = folder / f"{check_name('sample id', sample.id, folder)}.mp4"     # read inside the folder only
        if not path.is_file():
            hint = (f"; the folder {folder} does not exist: put {self.card.name}'s videos there "
                    f"or point to them with --method-folder {self.card.name}=DIR") if not folder.is_dir() else ""
            raise MediaError(path, f"no video for sample {sample.id}{hint}")
        # The tools write their own audio track (or none); the benchmark pairs every video
        # with the sample's driving audio, which is what the video is meant to follow.
        video = read_video(path, fps=sample.fps, audio=False)
        return Generation(with_sample_audio(fit_frames(video.frames, sample, str(path)), sample))
