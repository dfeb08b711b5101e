namespace Luffy.Objectives.Tests.Shaping;

public class ExponentialRatioTests : RatioReshapingContractTests
{
    protected override IRatioReshaping Create() => new ExponentialRatio();
}
