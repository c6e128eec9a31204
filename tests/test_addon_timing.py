"""Model time vs scene time for the Blender add-on (bpy-free helpers in blender_addon.timing)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from blender_addon import timing
from blender_addon.timing import AudioPlacement, frame_map, model_range, scene_fps

RATES = [(24, 1.0), (25, 1.0), (30, 1.0), (50, 1.0), (60, 1.0), (30, 1.001), (24, 1.001), (60, 1.001)]


def test_scene_fps_is_exact_for_ntsc_rates():
    assert scene_fps(30, 1.0010000467300415) == Fraction(30000, 1001)  # the float32 Blender stores
    assert scene_fps(24, 1.001) == Fraction(24000, 1001)
    assert scene_fps(25) == 25
    with pytest.raises(ValueError, match="Frame Rate"):
        scene_fps(0, 1.0)


def placement_for(seconds: float, fps: Fraction, start: int = 1) -> AudioPlacement:
    """A sound strip of ``seconds`` at scene frame ``start`` (Blender rounds the length to frames)."""
    length = timing.round_half_up(Fraction(seconds) * fps)
    return AudioPlacement.make(start, 0.0, start, start + length, fps)


@pytest.mark.parametrize("fps,base", RATES)
def test_frame_map_spans_the_audio_and_stays_in_sync(fps, base):
    rate = scene_fps(fps, base)
    place = placement_for(7.0, rate, start=10)
    rng = model_range(place)
    assert rng.start == 0 and rng.end in (175, 176)  # 176 when the last scene frame is nearer 7.0 s
    mapping = frame_map(place, range(0, 175))  # 7 s of audio = model frames 0..174
    assert len(mapping) == place.length  # starts and ends with the sound strip
    assert mapping[0] == 0 and mapping[-1] == 174
    for i, k in enumerate(mapping):  # every scene frame shows the existing model frame nearest in time
        t_scene = Fraction(i) / rate
        assert abs(Fraction(k, 25) - t_scene) <= Fraction(1, 25)  # 1/50 except the held last frame
        assert k == min(174, timing.round_half_down(t_scene * 25))
    assert mapping == sorted(mapping)
    assert len(mapping) == timing.strip_length(175, rate)  # N frames at 25 fps span N*F/25 scene frames


def test_no_drift_after_an_hour_at_2997():
    rate = scene_fps(30, 1.001)
    place = placement_for(3600.0, rate, start=1)
    mapping = frame_map(place, range(0, 3600 * 25))
    last_t = Fraction(len(mapping) - 1) / rate
    assert abs(Fraction(mapping[-1], 25) - last_t) <= Fraction(1, 50)
    assert len(mapping) == 107892  # 3600 s * 29.97 fps, rounded


def test_trimmed_and_offset_strip_maps_to_sound_time():
    rate = Fraction(24)
    # sound time 0 at frame 100, first 48 frames (2 s) trimmed away, plus 0.5 s sound offset
    place = AudioPlacement.make(100, 0.5, 148, 196, rate)
    assert place.time_at_frame(148) == Fraction(5, 2)
    rng = model_range(place)
    assert place.time_at_frame(100) == Fraction(1, 2)
    assert rng.start == 62  # 2.5 s is model frame 62.5: a tie shows the earlier frame
    assert place.model_frame_at(149) == 64  # 2.5417 s * 25 = 63.54
    assert place.time_at_frame(195) == Fraction(107, 24)  # last visible frame: 4.458 s = model frame 111.46
    assert rng.end == 112


def test_model_range_samples_at_model_times():
    rate = Fraction(30)
    place = AudioPlacement.make(5, 0.0, 5, 65, rate)  # 2 s
    rng = model_range(place)
    assert (rng.start, rng.end) == (0, 50)
    for k, f in zip(range(rng.start, rng.end), rng.sample_frames):
        assert f == pytest.approx(5 + k / 25 * 30)  # scene frame of model time k/25
    trimmed = AudioPlacement.make(5, 0.0, 35, 65, rate)  # first second trimmed away
    assert model_range(trimmed).start == 25
    assert timing.sample_frames(trimmed, 0, 3) == pytest.approx((5.0, 6.2, 7.4))  # before the visible part


def test_frame_map_clamps_to_the_frames_that_exist():
    place = AudioPlacement.make(1, 0.0, 1, 61, Fraction(30))
    mapping = frame_map(place, range(0, 40))
    assert len(mapping) == 60 and max(mapping) == 39 and mapping[-1] == 39
    with pytest.raises(ValueError):
        frame_map(place, range(0))
    with pytest.raises(ValueError, match="no visible frames"):
        AudioPlacement.make(1, 0.0, 10, 10, Fraction(24))


def test_sample_clamps_and_evaluates_at_fractional_frames():
    seen = []

    def curve(f):
        seen.append(f)
        return f / 10

    assert timing.sample(curve, [0.0, 12.5, 40.0], lo=0.0, hi=2.0) == [0.0, 1.25, 2.0]
    assert seen == [0.0, 12.5, 40.0]


def test_resample_between_rates_by_time():
    src = [float(i) for i in range(25)]  # value = frame index at 25 fps, i.e. 25 * t
    out = timing.resample(src, 25, 30, 30)
    for i, v in enumerate(out):
        assert v == pytest.approx(min(24.0, i * 25 / 30))
    assert timing.resample([1.0, 3.0], 1, 2, 4) == [1.0, 2.0, 3.0, 3.0]
    with pytest.raises(ValueError):
        timing.resample([], 25, 24, 3)


def test_rounding_is_not_bankers():
    assert [timing.round_half_up(Fraction(x, 2)) for x in (1, 3, 5, -1)] == [1, 2, 3, 0]
    assert [timing.round_half_down(Fraction(x, 2)) for x in (1, 3, 5, -1)] == [0, 1, 2, -1]
    assert timing.strip_length(50, Fraction(24)) == 48
    assert timing.strip_length(50, Fraction(30000, 1001)) == 60


@pytest.mark.parametrize("fps,base", RATES)
@pytest.mark.parametrize("size", [1, 7, 40])
def test_farm_chunks_split_the_job_exactly_and_own_what_they_show(fps, base, size):
    place = AudioPlacement.make(Fraction(7, 2), 0.3, 10, 10 + 7 * fps, scene_fps(fps, base))  # trimmed + offset
    rng = model_range(place)
    start, end = rng.start, rng.end - 1  # the server's audio may end a frame short: the job ends there
    covered, shown_by = [], {}
    for first in range(1, place.visible_end + 2 * size, size):  # chunks also before and after the strip
        chunk = timing.chunk_model_range(place, start, end, first, first + size - 1)
        covered += list(chunk)
        for f in range(max(first, place.visible_start), min(first + size, place.visible_end)):
            shown_by[f] = chunk
    assert covered == list(range(start, end))  # every frame once, in order
    for f, chunk in shown_by.items():  # a chunk renders what its scene frames show, unless an earlier one did
        k = min(end - 1, place.model_frame_at(f))
        assert k in chunk or k < chunk.start
    assert len(timing.chunk_model_range(place, start, end, place.visible_end, place.visible_end + 50)) == 0
