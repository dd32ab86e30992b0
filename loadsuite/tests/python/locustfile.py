"""A minimal Locust user hitting the mock gateway: used to compare loadsuite's CSV files with a
real Locust run's (same headers, same column order)."""

from locust import HttpUser, constant, task


class GatewayUser(HttpUser):
    wait_time = constant(0.1)

    @task(3)
    def health(self):
        self.client.get("/health")

    @task(1)
    def missing(self):
        self.client.get("/v1/models/qwen2.5-14b-instruct", name="/v1/models/[id]")
