# Webhook endpoints and deliveries (rebates/webhook_models.py); Payout.package_info for WAIT_USER_CONFIRM bills.

import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_device_uses'),
        ('rebates', '0006_rebate_coupon'),
    ]

    operations = [
        migrations.AddField(
            model_name='payout',
            name='package_info',
            field=models.TextField(blank=True, verbose_name='WeChat package info'),
        ),
        migrations.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('url', models.URLField(max_length=500, verbose_name='URL')),
                ('secret', models.CharField(editable=False, max_length=100, verbose_name='signing secret')),
                ('events', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(choices=[('rebate.credited', 'rebate credited'), ('rebate.reversed', 'rebate reversed'), ('payout.succeeded', 'payout succeeded'), ('payout.failed', 'payout failed')], max_length=32), default=list, size=None, verbose_name='events')),
                ('description', models.CharField(blank=True, max_length=200, verbose_name='description')),
                ('active', models.BooleanField(default=True, verbose_name='active')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created at')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated at')),
                ('merchant', models.ForeignKey(blank=True, help_text="Empty for a platform endpoint, which receives every merchant's events.", null=True, on_delete=django.db.models.deletion.CASCADE, related_name='webhook_endpoints', to='accounts.merchant', verbose_name='merchant')),
            ],
            options={
                'verbose_name': 'webhook endpoint',
                'verbose_name_plural': 'webhook endpoints',
            },
        ),
        migrations.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('event_id', models.UUIDField(verbose_name='event id')),
                ('event_type', models.CharField(choices=[('rebate.credited', 'rebate credited'), ('rebate.reversed', 'rebate reversed'), ('payout.succeeded', 'payout succeeded'), ('payout.failed', 'payout failed')], max_length=32, verbose_name='event')),
                ('body', models.TextField(verbose_name='body')),
                ('state', models.CharField(choices=[('pending', 'pending'), ('succeeded', 'delivered'), ('failed', 'failed')], default='pending', max_length=16, verbose_name='state')),
                ('attempts', models.PositiveIntegerField(default=0, verbose_name='attempts')),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True, verbose_name='next attempt at')),
                ('last_attempt_at', models.DateTimeField(blank=True, null=True, verbose_name='last attempt at')),
                ('last_status_code', models.PositiveIntegerField(blank=True, null=True, verbose_name='last HTTP status')),
                ('last_error', models.TextField(blank=True, verbose_name='last error')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created at')),
                ('delivered_at', models.DateTimeField(blank=True, null=True, verbose_name='delivered at')),
                ('endpoint', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='rebates.webhookendpoint', verbose_name='endpoint')),
            ],
            options={
                'verbose_name': 'webhook delivery',
                'verbose_name_plural': 'webhook deliveries',
            },
        ),
        migrations.AddIndex(
            model_name='webhookendpoint',
            index=models.Index(condition=models.Q(('active', True)), fields=['merchant'], name='webhook_endpoint_active'),
        ),
        migrations.AddIndex(
            model_name='webhookdelivery',
            index=models.Index(condition=models.Q(('state', 'pending')), fields=['next_attempt_at'], name='webhook_delivery_due'),
        ),
        migrations.AddIndex(
            model_name='webhookdelivery',
            index=models.Index(fields=['endpoint', '-created_at'], name='webhook_delivery_recent'),
        ),
        migrations.AddConstraint(
            model_name='webhookdelivery',
            constraint=models.UniqueConstraint(fields=('endpoint', 'event_id'), name='webhook_delivery_once_per_endpoint'),
        ),
    ]
