"""Route dependencies of the alerting service: its state and settings, set on the app by create_app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.alerting.config import AlertingSettings
from services.alerting.evaluation.state import AlertingState


def alerting_state(request: Request) -> AlertingState:
    state: AlertingState = request.app.state.alerting_state
    return state


def alerting_settings(request: Request) -> AlertingSettings:
    settings: AlertingSettings = request.app.state.alerting_settings
    return settings


StateDep = Annotated[AlertingState, Depends(alerting_state)]
SettingsDep = Annotated[AlertingSettings, Depends(alerting_settings)]
