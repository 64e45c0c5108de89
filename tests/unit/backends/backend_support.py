"""What the backend tests share."""


def warnings_of(result):
    """The texts of the result's warnings (ansible-core 2.19 and later carry each as a WarningSummary)."""
    return [getattr(getattr(warning, "event", None), "msg", warning) for warning in result.get("warnings", [])]
