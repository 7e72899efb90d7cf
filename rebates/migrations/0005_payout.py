# Payout (WeChat 商家转账 withdrawals) and the WeChat openid each user is paid to.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('rebates', '0004_rebate_lifecycle'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Payout',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('amount', models.DecimalField(decimal_places=2, max_digits=14, verbose_name='amount (CNY)')),
                ('channel', models.CharField(choices=[('wallet', 'platform wallet'), ('wechat_balance', 'WeChat balance (零钱)')], max_length=16, verbose_name='channel')),
                ('status', models.CharField(choices=[('requested', 'requested'), ('in_flight', 'in flight'), ('retrying', 'retrying'), ('succeeded', 'succeeded'), ('failed', 'failed')], default='requested', max_length=16, verbose_name='status')),
                ('out_bill_no', models.CharField(editable=False, max_length=32, unique=True, verbose_name='out bill no')),
                ('openid', models.CharField(blank=True, max_length=128, verbose_name='recipient openid')),
                ('attempts', models.PositiveIntegerField(default=0, verbose_name='attempts')),
                ('last_error', models.TextField(blank=True, verbose_name='last error')),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True, verbose_name='next attempt at')),
                ('transfer_bill_no', models.CharField(blank=True, max_length=64, verbose_name='WeChat transfer bill no')),
                ('wechat_state', models.CharField(blank=True, max_length=32, verbose_name='WeChat state')),
                ('fail_reason', models.CharField(blank=True, max_length=64, verbose_name='fail reason')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created at')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated at')),
                ('completed_at', models.DateTimeField(blank=True, null=True, verbose_name='completed at')),
                ('beneficiary', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='payouts', to=settings.AUTH_USER_MODEL, verbose_name='beneficiary')),
            ],
            options={
                'verbose_name': 'payout',
                'verbose_name_plural': 'payouts',
                'indexes': [models.Index(condition=models.Q(('status__in', ['requested', 'in_flight', 'retrying'])), fields=['next_attempt_at'], name='payout_open'), models.Index(fields=['beneficiary', '-created_at'], name='payout_beneficiary_recent')],
                'constraints': [models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='payout_amount_positive'), models.CheckConstraint(condition=models.Q(models.Q(('completed_at__isnull', False), ('status__in', ['succeeded', 'failed'])), models.Q(models.Q(('status__in', ['succeeded', 'failed']), _negated=True), ('completed_at__isnull', True)), _connector='OR'), name='payout_completed_iff_terminal')],
            },
        ),
        migrations.CreateModel(
            name='WechatOpenId',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('appid', models.CharField(max_length=32)),
                ('openid', models.CharField(max_length=128)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='wechat_openids', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'WeChat openid',
                'verbose_name_plural': 'WeChat openids',
                'constraints': [models.UniqueConstraint(fields=('user', 'appid'), name='wechat_openid_one_per_user_app'), models.UniqueConstraint(fields=('appid', 'openid'), name='wechat_openid_unique')],
            },
        ),
    ]
