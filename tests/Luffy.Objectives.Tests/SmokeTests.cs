namespace Luffy.Objectives.Tests;

public class SmokeTests
{
    [Fact]
    public void Torch_loads()
    {
        using var t = ones(3);
        Assert.Equal(3.0, t.sum().item<float>());
    }
}
