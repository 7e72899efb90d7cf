"""Payouts: a shopper's cash leaving the platform to WeChat 零钱 (docs/PAYOUTS.md): the models, the payout service
and its tasks, the API and admin, the WeChat Pay client and its local fake, the wallet page's withdraw form.
Models keep the rebates app's label and tables (`rebates_payout`, `rebates_wechatopenid`); the tasks keep their
old names (`rebates.payout_tasks.*`)."""
