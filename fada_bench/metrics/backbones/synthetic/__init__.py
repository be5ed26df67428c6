"""The synthetic world's metric backbones: small networks trained on that world by
`fada-bench weights train-synthetic` and shipped under fada_bench/weights/synthetic/.

They stand in for the standard backbones where only the synthetic world exists, and their
metric keys say so (`fid[synthetic]`, never `fid[inception]`):

| network            | stands in for                   | serves                                      |
|--------------------|---------------------------------|---------------------------------------------|
| inverse renderer   | 3D face reconstruction, ArcFace | E-FID (expression), FID (penultimate        |
|                    | and Inception                   | features), CSIM (identity)                  |
| video network      | I3D / 3D-ResNet                 | FVD (penultimate features of 16-frame clips: |
|                    |                                 | frame encoder + temporal convolutions)       |
| SyncNet            | SyncNet v2                      | Sync-D, Sync-C, AV offset                   |
| IQA regressor      | Q-Align                         | IQA on the 1-5 scale                        |

- `preprocessing`: what the networks see; training and scoring call the same functions.
- `networks`: the torch modules, built by name and loaded from verified weights (safetensors,
  checked against the sha256 in weights/synthetic/registry.json: `fada_bench.weight_files.synthetic`).
- `scorers`: the networks behind the backbone protocols, and one loader per network for the metrics.
"""
from .networks import (VIDEO_TARGETS, InverseRendererNet, QualityNet, SyncNetSmall, VideoFeatureNet,
                       build_network, load_network)
from .preprocessing import (CLIP_LEN, DEGRADATIONS, EYE_POINTS, IQA_SIZE, MOUTH_BOX, MOUTH_HW, MOUTH_PAD,
                            MOUTH_POINTS, SYNC_WINDOW, VISIBLE_IDENTITY, VISIBLE_IDENTITY_IDX, centre_mouth,
                            images_to_tensor, mouth_crops, video_windows)
from .scorers import (BACKBONE_NAME, SyntheticInverseRenderer, SyntheticQualityScorer, SyntheticSyncNet,
                      SyntheticVideoNet, load_inverse_renderer, load_quality_scorer, load_sync_net, load_video_net,
                      syncnet_audio_windows)

__all__ = ["BACKBONE_NAME", "CLIP_LEN", "DEGRADATIONS", "EYE_POINTS", "IQA_SIZE", "MOUTH_BOX", "MOUTH_HW",
           "MOUTH_PAD", "MOUTH_POINTS", "SYNC_WINDOW", "VIDEO_TARGETS", "VISIBLE_IDENTITY", "VISIBLE_IDENTITY_IDX",
           "InverseRendererNet", "QualityNet", "SyncNetSmall", "SyntheticInverseRenderer", "SyntheticQualityScorer",
           "SyntheticSyncNet", "SyntheticVideoNet", "VideoFeatureNet", "build_network", "centre_mouth",
           "images_to_tensor", "load_inverse_renderer", "load_network", "load_quality_scorer", "load_sync_net",
           "load_video_net", "mouth_crops", "syncnet_audio_windows", "video_windows"]
