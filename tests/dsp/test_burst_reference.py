"""The burst kernel runs channel by channel; its reference (kept here) ran over samples with channels inside.

``reference_burst_kernel`` is the first version of
:func:`nmre.dsp._onset_kernels.burst_kernel` (it also records each event's sample
index, which the detector orders events by). Every event, every output sample
and every state value of :class:`OnsetDetector` must be the same with either, in
every mode: tracked baseline with re-estimation, a running reference, a fixed
reference, onsets re-timed at a peak fraction, NaN samples, any block split.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit

from nmre.core.model import Block
from nmre.dsp import _onset_kernels as K
from nmre.dsp._onset_kernels import (
    CS_ACTIVE,
    CS_GAP,
    CS_RUN,
    EV_DETECT,
    EV_DURATION,
    EV_PEAK,
    EV_THRESHOLD,
    EV_TIME,
    FS_BURST_PEAK,
    FS_BURST_T,
    FS_MU,
    FS_REF,
    FS_RUN_PEAK,
    FS_RUN_T,
    FS_SD,
    FS_SM_SUM,
    FS_THR_OFF,
    FS_THR_ON,
    IP_MAX_GAP,
    IP_N_OFF,
    IP_N_ON,
    IP_STRIDE,
    IP_SUB_N,
    IP_TRACK,
    IP_USE_REF,
    IS_HIST_COUNT,
    IS_HIST_POS,
    IS_SM_COUNT,
    IS_SM_POS,
    IS_SUB_POS,
    P_CONFIRM,
    P_F_OFF,
    P_F_ON,
    P_K_OFF,
    P_K_ON,
    P_MAX_DROP,
    P_REBASE,
    PC_ABS_OFF,
    PC_ABS_ON,
    PC_REF,
)
from nmre.dsp.onset import OnsetDetector

_median_spread = K._median_spread
_rebaseline = K._rebaseline


@njit(cache=False)
def reference_burst_kernel(
    x: np.ndarray,
    times: np.ndarray,
    prm: np.ndarray,
    iprm: np.ndarray,
    pch: np.ndarray,
    ist: np.ndarray,
    fst: np.ndarray,
    cst: np.ndarray,
    sub_buf: np.ndarray,
    scratch: np.ndarray,
    hist: np.ndarray,
    sm_ring: np.ndarray,
    y: np.ndarray,
    ev_i: np.ndarray,
    ev_f: np.ndarray,
) -> int:
    """The reference: one pass over samples, channels inside."""
    n_on, n_off, max_gap = iprm[IP_N_ON], iprm[IP_N_OFF], iprm[IP_MAX_GAP]
    track, use_ref = iprm[IP_TRACK] == 1, iprm[IP_USE_REF] == 1
    abs_on, abs_off, ref_fixed = pch[PC_ABS_ON], pch[PC_ABS_OFF], pch[PC_REF]
    hist_med, hist_sd = hist[0], hist[1]
    n_ch, n = x.shape
    sub_w = iprm[IP_SUB_N]
    stride = iprm[IP_STRIDE]
    hcap = hist_med.shape[1]
    sm_w = sm_ring.shape[1]
    k = 0
    for i in range(n):
        t = times[i]
        sp = ist[IS_SM_POS]
        for c in range(n_ch):
            v = x[c, i]
            # -- reference: running peak of the moving mean
            if use_ref:
                vv = v if math.isfinite(v) else 0.0
                fst[FS_SM_SUM, c] += vv - sm_ring[c, sp]
                sm_ring[c, sp] = vv
                cnt = ist[IS_SM_COUNT] + 1 if ist[IS_SM_COUNT] < sm_w else sm_w
                mean = fst[FS_SM_SUM, c] / cnt
                if mean > fst[FS_REF, c]:
                    fst[FS_REF, c] = mean
            ref = ref_fixed[c] if math.isfinite(ref_fixed[c]) else (fst[FS_REF, c] if use_ref else 0.0)
            mu = fst[FS_MU, c]
            sd = fst[FS_SD, c]
            on = -math.inf
            off = -math.inf
            if math.isfinite(mu):
                on = mu + prm[P_K_ON] * sd
                off = mu + prm[P_K_OFF] * sd
            on = max(on, abs_on[c])
            off = max(off, abs_off[c])
            decide = math.isfinite(on)
            if decide and math.isfinite(ref):
                on = max(on, prm[P_F_ON] * ref)
                off = max(off, prm[P_F_OFF] * ref)
            fst[FS_THR_ON, c] = on if decide else math.nan
            fst[FS_THR_OFF, c] = off if decide else math.nan
            if decide:
                act = cst[CS_ACTIVE, c]
                if act == 1 and v > fst[FS_BURST_PEAK, c]:
                    fst[FS_BURST_PEAK, c] = v
                if act == 0:
                    hit = v > on
                    need = n_on
                else:
                    hit = v < off
                    need = n_off
                if hit:
                    if cst[CS_RUN, c] == 0:
                        fst[FS_RUN_T, c] = t
                        fst[FS_RUN_PEAK, c] = v
                    elif v > fst[FS_RUN_PEAK, c]:
                        fst[FS_RUN_PEAK, c] = v
                    cst[CS_RUN, c] += 1
                    cst[CS_GAP, c] = 0
                    if cst[CS_RUN, c] >= need:
                        ev_i[k, 0] = c
                        ev_i[k, 1] = 1 - act
                        ev_i[k, 2] = i
                        ev_f[k, EV_TIME] = fst[FS_RUN_T, c]
                        ev_f[k, EV_DETECT] = t
                        if act == 0:
                            ev_f[k, EV_THRESHOLD] = on
                            ev_f[k, EV_PEAK] = fst[FS_RUN_PEAK, c]
                            ev_f[k, EV_DURATION] = 0.0
                            fst[FS_BURST_T, c] = fst[FS_RUN_T, c]
                            fst[FS_BURST_PEAK, c] = fst[FS_RUN_PEAK, c]
                        else:
                            ev_f[k, EV_THRESHOLD] = off
                            ev_f[k, EV_PEAK] = fst[FS_BURST_PEAK, c]
                            ev_f[k, EV_DURATION] = fst[FS_RUN_T, c] - fst[FS_BURST_T, c]
                        k += 1
                        cst[CS_ACTIVE, c] = 1 - act
                        cst[CS_RUN, c] = 0
                        cst[CS_GAP, c] = 0
                elif cst[CS_RUN, c] > 0:
                    cst[CS_GAP, c] += 1
                    if cst[CS_GAP, c] > max_gap:
                        cst[CS_RUN, c] = 0
                        cst[CS_GAP, c] = 0
                    else:
                        cst[CS_RUN, c] += 1
            y[c, i] = float(cst[CS_ACTIVE, c])
            if track and ist[IS_SUB_POS] % stride == 0:
                sub_buf[c, ist[IS_SUB_POS] // stride] = v
        if use_ref:
            sp += 1
            if sp == sm_w:
                sp = 0
                for c in range(n_ch):  # exact re-sum once per ring turn: no drift over a session
                    s = 0.0
                    for j in range(sm_w):
                        s += sm_ring[c, j]
                    fst[FS_SM_SUM, c] = s
            ist[IS_SM_POS] = sp
            if ist[IS_SM_COUNT] < sm_w:
                ist[IS_SM_COUNT] += 1
        if track:
            ist[IS_SUB_POS] += 1
            if ist[IS_SUB_POS] == sub_w:
                ist[IS_SUB_POS] = 0
                hp = ist[IS_HIST_POS]
                for c in range(n_ch):
                    med, spread = _median_spread(sub_buf[c], scratch)
                    hist_med[c, hp] = med if math.isfinite(med) else math.inf
                    hist_sd[c, hp] = spread
                ist[IS_HIST_POS] = hp + 1 if hp + 1 < hcap else 0
                if ist[IS_HIST_COUNT] < hcap:
                    ist[IS_HIST_COUNT] += 1
                full = ist[IS_HIST_COUNT] == hcap
                for c in range(n_ch):
                    _rebaseline(
                        c,
                        hist_med,
                        hist_sd,
                        ist[IS_HIST_COUNT],
                        full,
                        prm[P_REBASE],
                        int(prm[P_CONFIRM]),
                        prm[P_MAX_DROP],
                        fst,
                    )
    return k


MODES = {
    "tracked baseline": {"horizon": 2.0, "baseline_window": 0.2},
    "confirmed floor": {"horizon": 2.0, "baseline_window": 0.2, "confirm": 2},
    "running reference": {"on_fraction": 0.3, "off_fraction": 0.1, "horizon": 2.0, "baseline_window": 0.2},
    "fixed reference": {"reference": 1.0, "on_fraction": 0.2, "off_fraction": 0.1, "horizon": None},
    "peak fraction": {"peak_fraction": 0.2, "horizon": 2.0, "baseline_window": 0.2},
    "levels only": {"on_level": 0.5, "off_level": 0.3, "horizon": None},
}


def _signal(rng, n_ch, n, fs):
    x = np.abs(rng.normal(0, 0.02, (n_ch, n)))
    for c in range(n_ch):  # bursts at their own times, a louder rest in the middle
        for _ in range(8):
            a = int(rng.integers(0, n - 400))
            x[c, a : a + int(rng.integers(20, 400))] += rng.uniform(0.3, 2.0)
        x[c, n // 2 : n // 2 + int(fs)] *= 6
    x[rng.random((n_ch, n)) < 0.002] = math.nan
    return x


def _run(det, x, fs, sizes):
    t = np.arange(x.shape[1]) / fs
    ys, evs, a = [], [], 0
    for n in sizes:
        b = Block("emg", t[a : a + n], np.ascontiguousarray(x[:, a : a + n]))
        a += n
        ys.append(det.process(b).values)
        evs.extend(e.to_json() for e in det.pop_events())
    state = [
        det._fst.tobytes(),
        det._cst.tobytes(),
        det._ist.tobytes(),
        det._hist.tobytes(),
        det._sm.tobytes(),
    ]
    return np.concatenate(ys, axis=1).tobytes(), evs, state


@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_channel_by_channel_kernel_matches_the_sample_by_sample_reference(mode, monkeypatch):
    fs, n_ch, n = 1000.0, 3, 12000
    rng = np.random.default_rng(len(mode))
    x = _signal(rng, n_ch, n, fs)
    sizes = [int(s) for s in np.diff(np.minimum(np.cumsum([0, *rng.integers(1, 300, 200).tolist(), n]), n))]
    opts = MODES[mode]
    baseline = None if "on_level" in opts else (np.full(n_ch, 0.02), np.full(n_ch, 0.01))
    got = _run(OnsetDetector(n_ch, fs, baseline=baseline, **opts), x, fs, sizes)
    monkeypatch.setattr(K, "burst_kernel", reference_burst_kernel)
    want = _run(OnsetDetector(n_ch, fs, baseline=baseline, **opts), x, fs, sizes)
    assert len(want[1]) > 10
    assert got[1] == want[1]
    assert got[0] == want[0]
    assert got[2] == want[2]


def test_the_squat_drills_detector_at_2_khz_in_1_s_blocks_matches_the_reference(monkeypatch):
    """The drill's settings (k 8/4, 25/100 ms, 30 s horizon of 0.5 s sub-windows, every 8th sample kept)
    at 2 kHz, as a replay hands it 1 s blocks and a live session 16-sample ones: stretches of fixed
    thresholds end at every sub-window, inside blocks and across them."""
    fs, n_ch, n = 2000.0, 4, 2000 * 70
    rng = np.random.default_rng(11)
    x = _signal(rng, n_ch, n, fs)
    x[:, n // 3 : n // 3 + 20 * 2000] *= 0.3  # a quieter floor for a while: the baseline is re-estimated
    opts = {"k_on": 8.0, "k_off": 4.0, "t_on": 0.025, "t_off": 0.1, "horizon": 30.0, "baseline_window": 0.5}
    for sizes in ([2000] * 70, [16] * (n // 16) + [n % 16]):
        got = _run(
            OnsetDetector(n_ch, fs, baseline=(np.full(n_ch, 0.3), np.full(n_ch, 0.1)), **opts), x, fs, sizes
        )
        with monkeypatch.context() as m:
            m.setattr(K, "burst_kernel", reference_burst_kernel)
            det = OnsetDetector(n_ch, fs, baseline=(np.full(n_ch, 0.3), np.full(n_ch, 0.1)), **opts)
            want = _run(det, x, fs, sizes)
        assert len(want[1]) > 20
        assert np.isfinite(det.mu).all() and not np.allclose(det.mu, 0.3)  # the baseline moved
        assert got == want
