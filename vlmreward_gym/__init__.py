"""vlmreward_gym: learned vision-language rewards for Gymnasium environments."""
