"""Writes docs/paging/: one sample page in each channel's format, rendered by the shipped templates from
the sample alert (pages.sample_payload), so that operators see what each channel receives.

    python -m scripts.pagesamples [--screenshot]

`--screenshot` also renders the e-mail's HTML in Chromium (Playwright, installed with the dev tools) to
docs/paging/email.png. A test checks that the text samples match the templates.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from services.alerting.delivery import formats
from services.alerting.delivery.pages import Pages, sample_payload

OUT = Path(__file__).resolve().parents[1] / "docs" / "paging"
ACK = "https://cx.example.com/ack/eyJkIjoiNDIiLCJhIjoiMDAwMDAwMDAifQ.signature"
DELIVERY = "42"


def samples() -> dict[str, str]:
    """File name -> content for every channel's sample (an escalation to L2 with its ack link)."""
    pages, payload = Pages(None, "https://cx.example.com", "Asia/Shanghai"), sample_payload("escalated")

    def as_json(document: Any) -> str:
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"

    email = formats.email_message(
        pages, payload, DELIVERY, "alerts@example.com", "agent-wang@example.com", ACK
    )
    text, html = (part.get_content() for part in email.iter_parts())
    return {
        "email.txt": f"Subject: {email['Subject']}\n\n{text}",
        "email.html": html,
        "slack.json": as_json(formats.slack_body(pages, payload, DELIVERY, ACK)),
        "wecom.json": as_json(formats.wecom_body(pages, payload, DELIVERY, ACK)),
        "dingtalk.json": as_json(formats.dingtalk_body(pages, payload, DELIVERY, ACK)),
        "feishu.json": as_json(formats.feishu_body(pages, payload, DELIVERY, None, 0, ACK)),
        "sms.json": formats.sms_body(pages, payload, DELIVERY, "+8613800000000", ACK).decode() + "\n",
    }


def screenshot(html: Path, png: Path) -> None:
    from playwright.sync_api import sync_playwright

    from scripts.infra import apt_install, ensure_chromium

    # A page is half Chinese: without a CJK font Chromium draws boxes.
    if not Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc").exists():
        apt_install("fonts-wqy-microhei")
    with sync_playwright() as browser_kit:
        browser = browser_kit.chromium.launch(executable_path=ensure_chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 680, "height": 640})
        page.goto(html.resolve().as_uri())
        page.screenshot(path=str(png), full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--screenshot", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name, content in samples().items():
        (OUT / name).write_text(content)
    if args.screenshot:
        screenshot(OUT / "email.html", OUT / "email.png")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
