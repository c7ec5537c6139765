"""Names people recognise for the device behind a session, from its User-Agent ("Chrome on Linux").

The parsing rules are the ua-parser project's (kept up to date in the ua-parser-builtins package),
not a regular expression of ours.
"""

from functools import lru_cache

from ua_parser import parse

UNKNOWN = "Unknown device"


@lru_cache(maxsize=1024)
def device_name(user_agent: str | None) -> str:
    """"Chrome on Linux", "Mobile Safari on iOS (iPhone)", "curl", or "Unknown device"."""
    if not user_agent:
        return UNKNOWN
    result = parse(user_agent)
    browser = result.user_agent.family if result.user_agent and result.user_agent.family != "Other" else None
    system = result.os.family if result.os and result.os.family != "Other" else None
    device = result.device.family if result.device and result.device.family not in ("Other", "Spider") else None
    if browser is None and system is None:
        return UNKNOWN
    name = f"{browser} on {system}" if browser and system else browser or system
    if device and device not in name and device != "Mac":
        name += f" ({device})"
    return name
