namespace Luffy.Objectives.Tests.Shaping;

public class SquareRootRatioTests : RatioReshapingContractTests
{
    protected override IRatioReshaping Create() => new SquareRootRatio();
}
