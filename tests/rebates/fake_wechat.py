"""The fake WeChat Pay lives in `rebates/payouts/fake_wechat.py` (`make run` starts it in demo mode); tests import
it here."""

from rebates.payouts.fake_wechat import (  # noqa: F401
    QUERY_RE,
    TRANSFER_PATH,
    FakeWechatPay,
    Keys,
    main,
    package_info_for,
    private_pem,
    public_pem,
    sign,
)

if __name__ == "__main__":  # pragma: no cover — the old command line still works
    main()
