"""Event kinds: the names every producer and consumer of events agrees on.

An event's ``kind`` is a dotted string; its first part is its family. Families
and the kinds nmre raises are named here once; rule outcomes are
``rule.<rule kind>`` (see :func:`rule`). Files, recordings and the JSON event
log carry the strings, so the values never change once released.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "BALANCE_BASELINE",
    "BALANCE_UNJUDGED",
    "CALIBRATION",
    "CALIBRATION_COMMON_LEAN",
    "CALIBRATION_EMG_REFERENCE",
    "CALIBRATION_EMG_REST",
    "CALIBRATION_FAILED",
    "CALIBRATION_LONG_AXIS",
    "CALIBRATION_NEUTRAL",
    "CALIBRATION_TEMPLATE",
    "CALIBRATION_TRAVEL_HEADING",
    "CYCLE_CUE",
    "DEVICE_CONNECT",
    "DEVICE_DISCONNECT",
    "DEVICE_ERROR",
    "DEVICE_RECONNECT",
    "DEVICE_WAITING",
    "DSP_BAD_INPUT",
    "DSP_NONFINITE",
    "EMG_BASELINE",
    "EMG_BURST",
    "EMG_OFFSET",
    "EMG_ONSET",
    "ENGINE_NODE_ERROR",
    "FEEDBACK_CUE",
    "HOLD_END",
    "HOLD_START",
    "HOLD_UNJUDGED",
    "LSL_ASSUMPTION",
    "LSL_MARKER",
    "PROGRESSION_SUGGESTION",
    "READINESS_FAIL",
    "READINESS_OVERRIDE",
    "READINESS_PASS",
    "REP_END",
    "REP_REJECTED",
    "REP_START",
    "REP_UNJUDGED",
    "REST_END",
    "REST_START",
    "REST_UNJUDGED",
    "RULE",
    "RULE_LOSS_OF_BALANCE",
    "RULE_SWAY",
    "SET_END",
    "SIGNAL_BAD",
    "SIGNAL_RECOVERED",
    "SOURCE_OVERFLOW",
    "STREAM_GAP",
    "STREAM_LOSS",
    "STREAM_MALFORMED",
    "STREAM_TIME_ERROR",
    "SWAY_WINDOW",
    "TARGET_END",
    "TARGET_START",
    "TARGET_UNJUDGED",
    "TEMPLATE_RECORDED",
    "TRANSITION_END",
    "TRANSITION_REJECTED",
    "TRANSITION_START",
    "TRANSITION_UNJUDGED",
    "UNJUDGED",
    "WINDOW_UNJUDGED",
    "is_outcome",
    "is_unjudged",
    "rule",
]

# -- repetitions and the other units a drill judges ---------------------------------
REP_START = "rep.start"
REP_END = "rep.end"
REP_REJECTED = "rep.rejected"
#: A hold (a contraction or a static position held in a work period): start and end.
HOLD_START = "hold.start"
HOLD_END = "hold.end"
#: The rest period after a hold (work/rest cycles): start and end.
REST_START = "rest.start"
REST_END = "rest.end"
#: A postural transition (sit-to-stand or stand-to-sit): start and end.
TRANSITION_START = "transition.start"
TRANSITION_END = "transition.end"
#: A target of a reaching or weight-shifting drill (limits of stability): shown, then closed.
TARGET_START = "target.start"
TARGET_END = "target.end"
#: A set ended (a schedule owes its summary of the last units then); payload from the
#: drill's progression: set, units, on_target, off_target, unjudged, errors, level.
SET_END = "set.end"

# -- not judged: the data over the span fell short of a rule's quality needs (nmre.quality),
# or the value could not be measured. Payload ``rule``, ``rep`` (``window``/``hold``/...),
# ``reason``, ``quality``. ---------------------------------------------------------------
REP_UNJUDGED = "rep.unjudged"
HOLD_UNJUDGED = "hold.unjudged"
REST_UNJUDGED = "rest.unjudged"
WINDOW_UNJUDGED = "window.unjudged"
TRANSITION_UNJUDGED = "transition.unjudged"
TARGET_UNJUDGED = "target.unjudged"
#: ``<unit>.unjudged`` for each unit a rule judges.
UNJUDGED: Mapping[str, str] = MappingProxyType(
    {
        "rep": REP_UNJUDGED,
        "hold": HOLD_UNJUDGED,
        "rest": REST_UNJUDGED,
        "window": WINDOW_UNJUDGED,
        "transition": TRANSITION_UNJUDGED,
        "target": TARGET_UNJUDGED,
    }
)

# -- drills: progression and templates ------------------------------------------------
#: After each set: advance, stay or step back, with the reason (payload decision, level, reason).
PROGRESSION_SUGGESTION = "progression.suggestion"
#: A template repetition was recorded (from the first good rep or a calibration record).
TEMPLATE_RECORDED = "template.recorded"
#: A work/rest cycle instruction for the patient ("Contract", "Relax").
CYCLE_CUE = "cycle.cue"

# -- rule outcomes -----------------------------------------------------------------
#: Prefix of every rule outcome: ``rule.<kind>`` with payload ``ok`` (bool), ``value``, band, ``error``.
RULE = "rule."
RULE_SWAY = "rule.sway"
RULE_LOSS_OF_BALANCE = "rule.loss_of_balance"

# -- feedback ----------------------------------------------------------------------
FEEDBACK_CUE = "feedback.cue"

# -- signals and streams -----------------------------------------------------------
STREAM_GAP = "stream.gap"
STREAM_MALFORMED = "stream.malformed"
#: Scattered packet loss, summarised about once a second (payload ``lost``, ``losses``, ``seconds``,
#: ``fraction`` (running), ``total_lost``); an outage is one ``stream.gap``.
STREAM_LOSS = "stream.loss"
#: A source block whose sample times went back before the stream's previous block (not processed).
STREAM_TIME_ERROR = "stream.time_error"
#: A processor replaced bad input (non-finite or beyond full scale) and marked its output.
DSP_BAD_INPUT = "dsp.bad_input"
SIGNAL_BAD = "signal.bad"
SIGNAL_RECOVERED = "signal.recovered"
DSP_NONFINITE = "dsp.nonfinite"
SOURCE_OVERFLOW = "source.overflow"

# -- devices -----------------------------------------------------------------------
DEVICE_CONNECT = "device.connect"
DEVICE_RECONNECT = "device.reconnect"
DEVICE_DISCONNECT = "device.disconnect"
DEVICE_ERROR = "device.error"
DEVICE_WAITING = "device.waiting"

# -- Lab Streaming Layer (scale) ---------------------------------------------------
#: A marker from an LSL marker stream: payload ``value`` (the marker's text), ``stream`` (its LSL name).
LSL_MARKER = "lsl.marker"
#: What nmre assumed about an LSL stream (a unit it did not give, channel order, rate): payload ``assumption``.
LSL_ASSUMPTION = "lsl.assumption"

# -- EMG and balance processing ----------------------------------------------------
EMG_ONSET = "emg.onset"
EMG_OFFSET = "emg.offset"
#: The onset of a muscle's main burst near a threshold onset (the steepest relative rise,
#: :func:`nmre.dsp.bursts.steepest_rise`): payload ``channel``, ``muscle``, ``threshold_time``, ``rise``.
EMG_BURST = "emg.burst"
EMG_BASELINE = "emg.baseline"
SWAY_WINDOW = "sway.window"
BALANCE_BASELINE = "balance.baseline"
#: No longer raised (windows not judged are ``window.unjudged``); kept so old recordings read.
BALANCE_UNJUDGED = "balance.unjudged"

# -- calibration and engine --------------------------------------------------------
#: Prefix of every calibration step's result: ``calibration.<step>``, payload = the step's record entry.
CALIBRATION = "calibration."
CALIBRATION_NEUTRAL = "calibration.neutral"
CALIBRATION_EMG_REST = "calibration.emg_rest"
CALIBRATION_EMG_REFERENCE = "calibration.emg_reference"
CALIBRATION_LONG_AXIS = "calibration.long_axis"
CALIBRATION_TEMPLATE = "calibration.template"
CALIBRATION_TRAVEL_HEADING = "calibration.travel_heading"
#: The arm/trunk heading correction from a common lean (:class:`nmre.calibration.imu.CommonLeanHeading`).
CALIBRATION_COMMON_LEAN = "calibration.common_lean"
#: A step gave up (timeout, bad signal); payload ``step``, ``reason``.
CALIBRATION_FAILED = "calibration.failed"
#: The signal-readiness gate: passed, failed (payload ``problems`` per stream), opened by the therapist.
READINESS_PASS = "readiness.pass"
READINESS_FAIL = "readiness.fail"
READINESS_OVERRIDE = "readiness.override"
ENGINE_NODE_ERROR = "engine.node_error"

# -- transitions (sit-to-stand / stand-to-sit, nmre.dsp.transitions) ----------------
#: A movement that was not a transition (too small, too slow, too long); payload ``reason``.
TRANSITION_REJECTED = "transition.rejected"


def rule(kind: str) -> str:
    """The event kind of an outcome of rule ``kind``: ``rule("squat_depth") == "rule.squat_depth"``."""
    return RULE + kind


def is_unjudged(kind: str) -> bool:
    """``True`` for the kinds of a span that was not judged (``*.unjudged``)."""
    return kind.endswith(".unjudged")


def is_outcome(kind: str) -> bool:
    """``True`` for rule outcome kinds (``rule.*``)."""
    return kind.startswith(RULE)
