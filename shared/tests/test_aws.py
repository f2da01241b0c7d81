from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from orderflow_shared import aws


def test_s3_presigns_with_sigv4_and_keeps_the_shared_timeouts() -> None:
    aws.client.cache_clear()
    s3 = aws.client("s3")

    url = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60)

    query = parse_qs(urlparse(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["60"]
    assert (s3.meta.config.connect_timeout, s3.meta.config.read_timeout) == (5, 30)
