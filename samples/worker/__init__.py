"""Sample worker: long-polls its SQS work queue, runs JSON jobs, deletes each once it is done."""
