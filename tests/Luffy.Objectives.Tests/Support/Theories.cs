namespace Luffy.Objectives.Tests.Support;

/// <summary>Builders of xunit theory data.</summary>
public static class Theories
{
    /// <summary>Every pair (a, b) of <paramref name="first"/> × <paramref name="second"/>, in order.</summary>
    public static TheoryData<TA, TB> Cross<TA, TB>(IEnumerable<TA> first, IEnumerable<TB> second)
    {
        var data = new TheoryData<TA, TB>();
        foreach (TA a in first)
        {
            foreach (TB b in second)
            {
                data.Add(a, b);
            }
        }
        return data;
    }
}
