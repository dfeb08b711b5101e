namespace Luffy.Objectives.Tests.Shaping;

public class LogRatioTests : RatioReshapingContractTests
{
    protected override IRatioReshaping Create() => new LogRatio();
}
