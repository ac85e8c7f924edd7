"""SOS filtering: bit-exact against scipy, streaming == batch, group delay, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from nmre.core.model import Block
from nmre.dsp.filters import (
    SosFilter,
    design_sos,
    group_delay,
    notch_sos,
    passband_delay,
    sosfilt,
    sosfilt_zi,
)
from nmre.errors import ConfigError, InputError


def _random_sos(rng: np.random.Generator) -> np.ndarray:
    kind = rng.choice(["lowpass", "highpass", "bandpass", "bandstop"])
    fs = float(rng.choice([500.0, 1000.0, 2000.0]))
    order = int(rng.integers(1, 5))
    if kind in ("bandpass", "bandstop"):
        lo = rng.uniform(1, fs / 4)
        cutoff: float | tuple[float, float] = (lo, rng.uniform(lo + 1, fs / 2 - 1))
    else:
        cutoff = rng.uniform(1, fs / 2 - 1)
    sos = design_sos(kind, cutoff, fs, order)  # type: ignore[arg-type]
    if rng.random() < 0.5:
        sos = np.vstack([sos, notch_sos(float(rng.choice([50.0, 60.0])), fs, 30.0)])
    return sos


@pytest.mark.parametrize("seed", range(12))
def test_sosfilt_bit_exact_vs_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sos = _random_sos(rng)
    x = rng.standard_normal((int(rng.integers(1, 9)), int(rng.integers(1, 3000)))) * 10 ** rng.uniform(-3, 3)
    zi = rng.standard_normal((sos.shape[0], x.shape[0], 2))
    y, zf = sosfilt(sos, x, zi)
    y_ref, zf_ref = signal.sosfilt(sos, x, axis=-1, zi=zi)
    assert np.array_equal(y, y_ref)
    assert np.array_equal(zf, zf_ref)


def test_sosfilt_without_zi_starts_at_rest_and_keeps_zi_untouched() -> None:
    sos = design_sos("bandpass", (20, 450), 2000.0, 2)
    x = np.random.default_rng(1).standard_normal((3, 500))
    y, _ = sosfilt(sos, x)
    assert np.array_equal(y, signal.sosfilt(sos, x, axis=-1))
    zi = np.ones((2, 3, 2))
    sosfilt(sos, x, zi)
    assert np.all(zi == 1.0)


def test_sosfilt_accepts_integer_input_as_float64() -> None:
    sos = design_sos("lowpass", 10.0, 1000.0, 2)
    xi = np.arange(-50, 50, dtype=np.int16).reshape(2, 50)
    y, _ = sosfilt(sos, xi)
    assert np.array_equal(y, signal.sosfilt(sos, xi.astype(np.float64), axis=-1))


def test_steady_state_zi_gives_no_transient_for_a_constant() -> None:
    sos = design_sos("lowpass", 6.0, 1000.0, 2)
    x0 = np.array([2.5, -1.0])
    y, _ = sosfilt(sos, np.repeat(x0[:, None], 200, axis=1), sosfilt_zi(sos, x0))
    np.testing.assert_allclose(y, np.repeat(x0[:, None], 200, axis=1), rtol=1e-12)


def test_processor_steady_initial_matches_sosfilt_zi() -> None:
    sos = design_sos("lowpass", 6.0, 1000.0, 2)
    x = np.random.default_rng(2).standard_normal((2, 300)) + 5.0
    f = SosFilter(sos, 2, 1000.0, initial="steady")
    out = f.process(Block("s", np.arange(300) / 1e3, x))
    y_ref, _ = signal.sosfilt(sos, x, axis=-1, zi=sosfilt_zi(sos, x[:, 0]))
    assert np.array_equal(out.values, y_ref)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=70), min_size=0, max_size=25),
    seed=st.integers(0, 2**31),
    initial=st.sampled_from(["zeros", "steady"]),
)
def test_streaming_equals_batch(feed, sizes: list[int], seed: int, initial: str) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    sos = _random_sos(rng)
    x = rng.standard_normal((3, 400)) + 1.0
    f = SosFilter(sos, 3, 1000.0, initial=initial)  # type: ignore[arg-type]
    whole = f.process(Block("s", np.arange(400) / 1e3, x)).values
    f.reset()
    parts = feed(f, x, sizes)
    assert np.array_equal(np.concatenate([b.values for b in parts], axis=1), whole)
    assert np.array_equal(np.concatenate([b.times for b in parts]), np.arange(400) / 1e3)


def test_reset_forgets_state() -> None:
    f = SosFilter.bandpass(20, 450, 2000.0, 2)
    x = np.random.default_rng(3).standard_normal((2, 100))
    a = f.process(Block("s", np.arange(100) / 2e3, x)).values
    f.process(Block("s", np.arange(100) / 2e3, x))
    f.reset()
    assert np.array_equal(f.process(Block("s", np.arange(100) / 2e3, x)).values, a)


def test_group_delay_matches_scipy_on_cascaded_transfer_function() -> None:
    sos = design_sos("bandpass", (20, 450), 1000.0, 2)
    freqs = np.array([60.0, 100.0, 150.0, 300.0])
    b, a = signal.sos2tf(sos)
    _, gd_tf = signal.group_delay((b, a), w=freqs, fs=1000.0)
    np.testing.assert_allclose(group_delay(sos, 1000.0, freqs), gd_tf / 1000.0, rtol=1e-8)
    # reference/dsp.md: 1.5 / 0.6 / 0.36 ms at 60 / 100 / 150 Hz
    np.testing.assert_allclose(group_delay(sos, 1000.0, freqs[:3]) * 1e3, [1.51, 0.61, 0.36], atol=0.01)


def test_group_delay_of_6hz_lowpass_and_passband_delay() -> None:
    f = SosFilter.lowpass(6.0, 2000.0, 1)
    assert f.group_delay([0.01])[0] == pytest.approx(0.0375, abs=2e-4)  # independent of fs
    assert 0.0375 < f.passband_delay < 0.0441  # between the DC and fc/2 delays


def test_notch_removes_mains() -> None:
    fs = 1000.0
    t = np.arange(20000) / fs
    x = np.sin(2 * np.pi * 50 * t)[None, :]
    y, _ = sosfilt(notch_sos(50.0, fs, 30.0), x)
    assert np.abs(y[0, -2000:]).max() < 1e-3


BAD_VALUES = [
    (np.zeros((3, 10)), "n_channels=2"),
    (np.zeros(10), "got shape (10,)"),
    (np.zeros((2, 10, 1)), "got shape (2, 10, 1)"),
    (np.zeros((2, 10), dtype=complex), "complex128"),
    (np.zeros((2, 10), dtype=object), "object"),
    (np.array([["a"] * 3] * 2), "<U1"),
    (np.zeros((2, 10), dtype=bool), "bool"),
    ([[0.0] * 3] * 2, "list"),
]


@pytest.mark.parametrize(("values", "needle"), BAD_VALUES)
def test_bad_input_names_expected_and_got(values: object, needle: str) -> None:
    f = SosFilter.lowpass(6.0, 1000.0, 2)
    with pytest.raises(InputError) as err:
        f.process(_raw_block(values))
    msg = str(err.value)
    assert "expected" in msg and "float64" in msg and needle in msg


def _raw_block(values: object) -> Block:
    """A Block that bypasses Block's own checks so the processor's checks are exercised."""
    b = object.__new__(Block)
    object.__setattr__(b, "stream", "s")
    object.__setattr__(
        b, "times", np.zeros(getattr(values, "shape", (0, 0))[-1] if hasattr(values, "shape") else 0)
    )
    object.__setattr__(b, "values", values)
    object.__setattr__(b, "seq", 0)
    object.__setattr__(b, "missing_before", 0)
    object.__setattr__(b, "arrival", float("nan"))
    return b


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: design_sos("bandpass", 20.0, 1000.0), ConfigError),
        (lambda: design_sos("lowpass", 600.0, 1000.0), ConfigError),
        (lambda: design_sos("comb", 6.0, 1000.0), ConfigError),  # type: ignore[arg-type]
        (lambda: notch_sos(50.0, 80.0), ConfigError),
        (lambda: sosfilt(np.zeros((2, 5)), np.zeros((1, 4))), InputError),
        (lambda: sosfilt(np.array([[1, 0, 0, 2, 0, 0]]), np.zeros((1, 4))), InputError),
        (lambda: sosfilt(design_sos("lowpass", 6, 1e3), np.zeros((1, 4)), np.zeros((2, 1, 2))), InputError),
        (lambda: SosFilter(design_sos("lowpass", 6, 1e3), 0, 1e3), ConfigError),
    ],
)
def test_bad_configuration_raises(call, error) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match="expected"):
        call()


def test_passband_delay_function_matches_method() -> None:
    sos = design_sos("bandpass", (20, 450), 2000.0, 2)
    assert passband_delay(sos, 2000.0) == SosFilter(sos, 1, 2000.0).passband_delay


@pytest.mark.parametrize("n_channels", range(1, 10))
def test_bit_exact_for_every_channel_grouping(n_channels: int) -> None:
    # channels are filtered 4, 2 and 1 at a time; each grouping must match scipy
    rng = np.random.default_rng(n_channels)
    sos = np.vstack([design_sos("bandpass", (20, 450), 2000.0, 4), notch_sos(50.0, 2000.0)])
    x = rng.standard_normal((n_channels, 777))
    zi = rng.standard_normal((sos.shape[0], n_channels, 2))
    y, zf = sosfilt(sos, x, zi)
    y_ref, zf_ref = signal.sosfilt(sos, x, axis=-1, zi=zi)
    assert np.array_equal(y, y_ref) and np.array_equal(zf, zf_ref)
