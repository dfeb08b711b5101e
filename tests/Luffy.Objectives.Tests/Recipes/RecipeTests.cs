using Luffy.Objectives.Batching;
using Luffy.Objectives.Recipes;

namespace Luffy.Objectives.Tests.Recipes;

public class RecipeTests
{
    [Fact]
    public void Every_recipe_builds_a_valid_loss_estimator_and_planner()
    {
        foreach (Recipe recipe in Recipe.All)
        {
            Assert.NotNull(new MixedPolicyLoss(recipe.Loss));
            Assert.NotNull(new GroupPlanner(recipe.Plan));
            Assert.False(string.IsNullOrWhiteSpace(recipe.Source));
        }
        Assert.Equal(Recipe.All.Count, Recipe.All.Select(r => r.Name).Distinct().Count());
    }

    [Fact]
    public void The_pairings_that_were_prose_are_data()
    {
        // "Pair it with GroupNormalizedAdvantage(normalizeByStd: false)" was all LuffyMainRun said about its estimator
        var luffy = Assert.IsType<GroupNormalizedAdvantage>(Recipe.LuffyMainRun.Estimator);
        Assert.False(luffy.NormalizeByStd);
        Assert.Equal((8, 1), (Recipe.LuffyMainRun.Plan.SamplesPerPrompt, Recipe.LuffyMainRun.Plan.TraceCarriers));
        Assert.Same(PolicyLossOptions.LuffyMainRun, Recipe.LuffyMainRun.Loss);
        Assert.True(Assert.IsType<GroupNormalizedAdvantage>(Recipe.Grpo.Estimator).NormalizeByStd);
        Assert.False(Assert.IsType<GroupNormalizedAdvantage>(Recipe.DrGrpo.Estimator).NormalizeByStd);
        Assert.Equal(LossAggregation.SequenceMeanTokenSumNorm, Recipe.DrGrpo.Loss.Aggregation);
        Assert.IsType<OnPolicyGroupNormalizedAdvantage>(Recipe.RlWithSftLoss.Estimator);
        Assert.IsType<GpgAdvantage>(Recipe.Gpg.Estimator);
        Assert.All(new[] { Recipe.Grpo, Recipe.DrGrpo, Recipe.Gspo, Recipe.Sapo, Recipe.Gmpo, Recipe.Cispo, Recipe.Gpg }, r => Assert.Equal(0, r.Plan.TraceCarriers));
        Assert.IsType<GroupSequenceSurrogate>(Recipe.Gspo.Loss.OnPolicy);
        Assert.IsType<GeometricMeanSurrogate>(Recipe.Gmpo.Loss.OnPolicy);
        Assert.IsType<ClippedImportanceWeightObjective>(Recipe.Cispo.Loss.OnPolicy);
        Assert.IsType<SoftAdaptiveSurrogate>(Recipe.Sapo.Loss.OnPolicy);
    }

    [Theory]
    [InlineData("luffy")]
    [InlineData("DR-GRPO")]
    [InlineData("gmpo")]
    public void Recipes_are_found_by_name_in_any_case(string name) =>
        Assert.Equal(name, Recipe.Named(name).Name, ignoreCase: true);

    [Fact]
    public void An_unknown_name_lists_the_recipes()
    {
        var ex = Assert.Throws<ArgumentException>(() => Recipe.Named("ppo-max"));
        Assert.Contains("grpo, dr-grpo, luffy, rl-sft, gspo, sapo, gmpo, cispo, gpg", ex.Message);
    }

    [Fact]
    public void A_recipe_changed_with_with_keeps_the_rest_and_compares_by_value()
    {
        Recipe custom = Recipe.LuffyMainRun with { Loss = Recipe.LuffyMainRun.Loss with { EntropyCoefficient = 0 } };
        Assert.Equal(Recipe.LuffyMainRun.Estimator, custom.Estimator);
        Assert.NotEqual(Recipe.LuffyMainRun, custom);
        Assert.Equal(Recipe.LuffyMainRun, Recipe.LuffyMainRun with { });
    }
}
