# S3 state with native locking. The bucket, key and region are supplied at init time
# (make deploy passes -backend-config=backend.hcl), so no account detail is committed here.
terraform {
  backend "s3" {
    encrypt      = true
    use_lockfile = true
  }
}
