terraform {
  # 1.10: the S3 backend's use_lockfile (S3-native state locking).
  required_version = ">= 1.10.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Repository = "traced-webhook-pipeline"
    }
  }
}
