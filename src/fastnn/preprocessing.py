"""``fastnn.preprocessing``: the feature scalers. The code lives in :mod:`fastnn.data.preprocessing`."""
from .data.preprocessing import LogScaler, MinMaxScaler, StandardScaler, get_scaler, scaler_from_state

__all__ = ["StandardScaler", "MinMaxScaler", "LogScaler", "scaler_from_state", "get_scaler"]
