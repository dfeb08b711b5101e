namespace Luffy.Objectives.Tests.Shaping;

public class SquareRootShapingTests : ShapingContractTests
{
    protected override IShapingFunction Create() => new SquareRootShaping();
}
