"""What the tests, the bench and the demo share: local AWS on loopback, sample events, agents.

* `local_aws`: moto (in a thread or its own process), fake credentials, boto3 clients and
  builders for one service's topic, queues, secrets and AppConfig profiles.
* `emulators`: the AppConfig data plane moto lacks, and a fault-injecting proxy in front of moto.
* `events`: the EventBridge events the config pipeline forwards, as the agent receives them.
* `agent_process`: `python -m config_agent` as a child process; `wait`: waiting on a condition.

Standard library, boto3 and moto only: no cdktf, no pytest.
"""
