"""S3, as the use cases need it: whether a bucket is there (and whose), and emptying one."""

from __future__ import annotations

from annex_cdk.aws.resources import empty_bucket
from annex_cdk.aws.service import Service, is_not_found


class S3(Service):
    name = "s3"

    def bucket_exists(self, bucket: str) -> bool:
        """Whether HeadBucket finds it (any owner's: a bucket name is global)."""
        try:
            self._client.head_bucket(Bucket=bucket)
        except self._client.exceptions.ClientError:
            return False
        return True

    def owns_bucket(self, bucket: str, account: str) -> bool:
        """Whether `account` owns `bucket`: HeadBucket answers 404 when there is none, 403
        when it is someone else's."""
        try:
            self._client.head_bucket(Bucket=bucket, ExpectedBucketOwner=account)
        except self._client.exceptions.ClientError as err:
            if is_not_found(err) or err.response.get("Error", {}).get("Code") == "403":
                return False
            raise
        return True

    def empty_bucket(self, bucket: str) -> int:
        """Every object version and delete marker removed; how many (0: no such bucket)."""
        return empty_bucket(self._client, bucket)
