"""Feedback: schedules that decide what reaches the patient, and the sinks that show or play it."""

from nmre.feedback.schedule import (
    SCHEDULES,
    Bandwidth,
    Continuous,
    Faded,
    FeedbackSchedule,
    Retention,
    SelfControlled,
    Summary,
    make_schedule,
)
from nmre.feedback.sinks import JsonLinesSink, MemorySink

__all__ = [
    "SCHEDULES",
    "Bandwidth",
    "Continuous",
    "Faded",
    "FeedbackSchedule",
    "JsonLinesSink",
    "MemorySink",
    "Retention",
    "SelfControlled",
    "Summary",
    "make_schedule",
]
