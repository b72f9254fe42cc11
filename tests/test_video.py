import imageio.v3 as iio
import numpy as np

from worldstereo.pipelines.video import read_frames, write_frames, write_video


def test_video_and_frames_round_trip(tmp_path, rng):
    frames = np.zeros((6, 33, 47, 3), np.float32)
    frames[:, :, :, 0] = np.linspace(0, 1, 47)
    frames[:, :, :, 1] = np.linspace(0, 1, 6)[:, None, None]
    path = write_video(tmp_path / "v.mp4", frames, fps=8)
    back = iio.imread(path)
    assert back.shape == (6, 34, 48, 3)  # padded to even size, not resized
    assert np.abs(back[:, :33, :47].astype(float) / 255 - frames).mean() < 0.02
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]
    write_frames(tmp_path / "f", frames)
    assert np.array_equal(read_frames(tmp_path / "f"), (frames * 255 + 0.5).astype(np.uint8))
