"""The audio synthesis kernel: a gliding sine tone plus queued cue waveforms, into a buffer in place.

Everything it touches is preallocated by :class:`nmre.feedback.audio.Synth`; the
kernel allocates nothing, takes no lock and does no I/O, so it can run inside a
PortAudio callback. The control side (another thread) writes the tone's targets
and appends cue requests; the kernel is the only reader/advancer of the queue
(single producer, single consumer; aligned 8-byte stores are atomic on the
platforms nmre runs on).

Layouts (indices are the constants below):

``state`` float64: running phase (table units), current frequency and
loudness, the cue playing (-1 none) and its position, the tone generation last
heard, the samples left of a yielding cue's fade-out (-1 none).

``params`` float64: target frequency (Hz), target loudness (0–1), volume (0–1),
mute (0/1), hold (0/1: continuous tone silenced), frequency and loudness glide
coefficients per sample, tone generation (bumped by the control side at each
change), the cause of the latest change (arrival and sample time, session s),
the fade-out of a yielding cue in samples.

``cue_yields`` int64 (cues,): 1 for a cue that gives way to a cue queued behind it
(fading out over ``P_FADE_N`` samples) instead of making it wait to its end.

``queue`` int64 (Q,), ``q_cause`` float64 (Q, 2): cue ids and their causes;
``qstate`` int64: head (next to play), tail (next free), number of cues started.

``log`` float64 (L, 4): one row per change that reached the output: kind
(0 tone, 1 cue, + cue id * 10), DAC time of its first frame on the session
clock, latency from the causing block's arrival, latency from its sample time.
``lstate`` int64: rows written (the row is ``count % L``).
"""

from __future__ import annotations

import numpy as np

from nmre._numba import kernel

# state
S_PHASE, S_FREQ, S_AMP, S_CUE, S_CUE_POS, S_GEN, S_FADE = 0, 1, 2, 3, 4, 5, 6
N_STATE = 7
# params
P_FREQ, P_AMP, P_VOLUME, P_MUTE, P_HOLD, P_GLIDE_F, P_GLIDE_A, P_GEN, P_ARRIVAL, P_SAMPLE, P_FADE_N = range(
    11
)
N_PARAMS = 11
# qstate
Q_HEAD, Q_TAIL, Q_STARTED = 0, 1, 2
#: Largest continuous-tone amplitude and cue amplitude before the volume (headroom for mixing).
TONE_GAIN = 0.45
CUE_GAIN = 0.5


@kernel
def synth_render(
    out: np.ndarray,
    rate: float,
    dac0: float,
    table: np.ndarray,
    state: np.ndarray,
    params: np.ndarray,
    cues: np.ndarray,
    cue_len: np.ndarray,
    cue_yields: np.ndarray,
    queue: np.ndarray,
    q_cause: np.ndarray,
    qstate: np.ndarray,
    log: np.ndarray,
    lstate: np.ndarray,
) -> None:
    """Fill ``out`` (frames, channels) float32 with the next frames; the first frame plays at ``dac0``."""
    n = out.shape[0]
    n_ch = out.shape[1]
    size = table.shape[0] - 1
    q = queue.shape[0]
    n_log = log.shape[0]
    volume = params[P_VOLUME]
    muted = params[P_MUTE] != 0.0
    held = params[P_HOLD] != 0.0
    target_f = params[P_FREQ]
    target_a = 0.0 if held else params[P_AMP]
    gf = params[P_GLIDE_F]
    ga = params[P_GLIDE_A]
    phase = state[S_PHASE]
    freq = state[S_FREQ]
    amp = state[S_AMP]
    # a new tone setting: log when it reaches the output (only if it is audible or was)
    gen = params[P_GEN]
    if gen != state[S_GEN]:
        state[S_GEN] = gen
        if not muted and (target_a > 0.0 or amp > 1e-4):
            row = lstate[0] % n_log
            log[row, 0] = 0.0
            log[row, 1] = dac0
            log[row, 2] = dac0 - params[P_ARRIVAL]
            log[row, 3] = dac0 - params[P_SAMPLE]
            lstate[0] += 1
    cue = int(state[S_CUE])
    pos = int(state[S_CUE_POS])
    fade = int(state[S_FADE])
    fade_n = max(1, int(params[P_FADE_N]))
    for i in range(n):
        if cue >= 0 and fade < 0 and cue_yields[cue] != 0 and qstate[Q_HEAD] < qstate[Q_TAIL]:
            fade = fade_n  # a cue that yields (the rep tick) fades out for the one queued behind it
        if cue < 0 and qstate[Q_HEAD] < qstate[Q_TAIL]:
            k = qstate[Q_HEAD] % q
            cue = int(queue[k])
            pos = 0
            qstate[Q_HEAD] += 1
            if muted:  # a cue requested while muted is dropped, not delayed
                cue = -1
            else:
                qstate[Q_STARTED] += 1
                t = dac0 + i / rate
                row = lstate[0] % n_log
                log[row, 0] = 1.0 + 10.0 * cue
                log[row, 1] = t
                log[row, 2] = t - q_cause[k, 0]
                log[row, 3] = t - q_cause[k, 1]
                lstate[0] += 1
        freq += (target_f - freq) * gf
        amp += (target_a - amp) * ga
        x = phase
        j = int(x)
        frac = x - j
        s = (table[j] + (table[j + 1] - table[j]) * frac) * amp * TONE_GAIN
        phase += freq * size / rate
        while phase >= size:
            phase -= size
        if cue >= 0:
            g = 1.0
            if fade >= 0:
                g = fade / fade_n
                fade -= 1
            s += cues[cue, pos] * CUE_GAIN * g
            pos += 1
            if pos >= cue_len[cue] or fade == 0:
                cue = -1
                pos = 0
                fade = -1
        v = 0.0 if muted else s * volume
        if v > 1.0:
            v = 1.0
        elif v < -1.0:
            v = -1.0
        for c in range(n_ch):
            out[i, c] = v
    state[S_PHASE] = phase
    state[S_FREQ] = freq
    state[S_AMP] = amp
    state[S_CUE] = cue
    state[S_CUE_POS] = pos
    state[S_FADE] = fade
