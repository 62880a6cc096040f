"""The orphan-queue reaper: a small Lambda function (Python, boto3 only) in the config stack.

Config agents create one SQS queue per task, subscribed to their service's topic, and may not
delete queues or subscriptions themselves (least privilege, issue 27). This function removes
the queue and subscription of every task of its cluster that ECS reports STOPPED: at once on
each "ECS Task State Change" STOPPED event, and in a periodic sweep by queue-name prefix and
tag that finds whatever an event missed. Packaged by modules/orphan_reaper.py with
config_agent/contract.py, which names the tags, prefixes and variables both sides use.
"""
