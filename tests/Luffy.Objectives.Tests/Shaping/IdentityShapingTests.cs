namespace Luffy.Objectives.Tests.Shaping;

public class IdentityShapingTests : ShapingContractTests
{
    protected override IShapingFunction Create() => new IdentityShaping();
}
